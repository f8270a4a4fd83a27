"""AWS clients, built on first use and then reused by every invocation of the execution environment.

Built lazily, not at import: importing the handler needs no AWS configuration, so the local stack can set
AWS_ENDPOINT_URL and credentials first and tests can start moto first (both call `cache_clear()` on these
functions when they change the environment). Reused across invocations because adaptive retry mode keeps its
client-side rate limit inside the client: a new client would forget that the model just pushed back.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from analyze_image.analysis import CustomLabelsApi

# Adaptive mode retries throttling (ThrottlingException, ProvisionedThroughputExceededException), 5xx and
# connection errors with back-off, and slows this client down while the model's inference units are saturated.
# Timeouts are far below botocore's 60 s default, which equals the function timeout: one hung call would
# otherwise time out the whole batch instead of failing one record.
_REKOGNITION_CONFIG = Config(
    connect_timeout=5,
    read_timeout=15,
    retries={"mode": "adaptive", "total_max_attempts": 3},
)


@functools.cache
def rekognition_client() -> CustomLabelsApi:
    client: CustomLabelsApi = boto3.client("rekognition", config=_REKOGNITION_CONFIG)
    return client


@functools.cache
def s3_client() -> S3Client:
    return boto3.client("s3")


@functools.cache
def sqs_client() -> SQSClient:
    return boto3.client("sqs")
