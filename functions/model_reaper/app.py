"""Lambda entry point of ModelReaperFunction (handler `model_reaper.app.handler`), run every 15 minutes."""

from __future__ import annotations

import functools
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.metrics import MetricUnit

from model_reaper.reaper import AwsClients, reap_abandoned_model
from model_reaper.settings import get_settings
from observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@functools.cache
def aws_clients() -> AwsClients:
    """Built on first use (not at import) and reused by later invocations."""
    return AwsClients(
        rekognition=boto3.client("rekognition"),
        ssm=boto3.client("ssm"),
        sqs=boto3.client("sqs"),
        lambda_=boto3.client("lambda"),
        sfn=boto3.client("stepfunctions"),
        dynamodb=boto3.client("dynamodb"),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    outcome = reap_abandoned_model(get_settings(), aws_clients(), reaper_id=context.aws_request_id)
    if outcome.action == "reaped":
        # ModelReapedAlarm watches this metric.
        metrics.add_metric(name="ModelsReaped", unit=MetricUnit.Count, value=1)
    return asdict(outcome)
