"""AWS clients, built on first use and then reused by every invocation of the execution environment.

Built lazily, not at import: importing the handler needs no AWS configuration, so the local stack can set
AWS_ENDPOINT_URL and credentials first and tests can start moto first (both call `cache_clear()` on these
functions when they change the environment). Reused across invocations, as connections are.
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

# No SDK retries: analysis.py paces the calls and retries throttling at the model's capacity, where the SDK's
# back-off would slow the client far below what the model admits. Timeouts are far below botocore's 60 s
# default, which equals the function timeout: one hung call must fail one image, not time out the batch.
_REKOGNITION_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1})


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
