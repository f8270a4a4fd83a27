"""AWS clients of the reaper, built on first use (not at import) and reused by later invocations."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3

from model_reaper.reaper import AwsClients

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

    from model_reaper.lock import LockApi
    from model_reaper.reaper import ModelApi, ParameterApi


@functools.cache
def aws_clients() -> AwsClients:
    rekognition: ModelApi = boto3.client("rekognition")
    ssm: ParameterApi = boto3.client("ssm")
    sqs: SQSClient = boto3.client("sqs")
    lambda_: LambdaClient = boto3.client("lambda")
    sfn: SFNClient = boto3.client("stepfunctions")
    dynamodb: LockApi = boto3.client("dynamodb")
    return AwsClients(rekognition=rekognition, ssm=ssm, sqs=sqs, lambda_=lambda_, sfn=sfn, dynamodb=dynamodb)
