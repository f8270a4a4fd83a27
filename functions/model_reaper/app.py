"""Lambda entry point of ModelReaperFunction (handler `model_reaper.app.handler`), run every 15 minutes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from model_reaper.clients import aws_clients
from model_reaper.reaper import reap_abandoned_model
from model_reaper.settings import get_settings
from observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    outcome = reap_abandoned_model(get_settings(), aws_clients(), reaper_id=context.aws_request_id)
    if outcome.action == "reaped":
        # ModelReapedAlarm watches this metric.
        metrics.add_metric(name="ModelsReaped", unit=MetricUnit.Count, value=1)
    return outcome.as_dict()
