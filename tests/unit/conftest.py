"""Fixtures for the function unit tests: moto for S3 and SQS, botocore's Stubber for Rekognition."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from analyze_image import app
from analyze_image.clients import rekognition_client, s3_client, sqs_client
from analyze_image.settings import get_settings
from observability import logger, metrics

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
BUCKET = "labelbatch-images-example"
PROJECT_VERSION_ARN = (
    "arn:aws:rekognition:us-east-1:123456789012:project/defects/version/"
    "defects.2025-11-01T10.00.00/1761991200000"
)
SERVICE = "labelbatch-unit"
NAMESPACE = "LabelBatch"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:labelbatch-ImageQueue-EXAMPLE"
IMAGE_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/labelbatch-ImageQueue-EXAMPLE"

# What a Custom Labels object-detection model returns: each label with its bounding box.
LABELS: list[dict[str, Any]] = [
    {
        "Name": "scratch",
        "Confidence": 97.25,
        "Geometry": {"BoundingBox": {"Width": 0.125, "Height": 0.0625, "Left": 0.40625, "Top": 0.3125}},
    },
    {
        "Name": "dent",
        "Confidence": 61.5,
        "Geometry": {"BoundingBox": {"Width": 0.25, "Height": 0.1875, "Left": 0.0625, "Top": 0.71875}},
    },
]


@pytest.fixture
def labels() -> list[dict[str, Any]]:
    """The labels the stub answers with unless a test says otherwise."""
    return copy.deepcopy(LABELS)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, one region, the function's Powertools settings, and nothing pointing elsewhere."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": SERVICE,
        "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    # observability's objects exist once per process, built from whatever environment the first importer had
    # (possibly another test suite): pin what these tests assert on, and start from no pending metric.
    monkeypatch.setattr(metrics, "namespace", NAMESPACE)
    monkeypatch.setattr(metrics, "service", SERVICE)
    metrics.clear_metrics()
    _clear_caches()
    yield
    _clear_caches()
    metrics.clear_metrics()


def _clear_caches() -> None:
    get_settings.cache_clear()
    rekognition_client.cache_clear()
    s3_client.cache_clear()
    sqs_client.cache_clear()


@pytest.fixture
def function_environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The variables the template gives AnalyzeImageFunction; tests change single values with monkeypatch."""
    env = {
        "IMAGE_BUCKET": BUCKET,
        "INPUT_PREFIX": "images/",
        "RESULTS_PREFIX": "results/",
        "PROJECT_VERSION_ARN": PROJECT_VERSION_ARN,
        "MIN_CONFIDENCE": "",
        "IMAGE_QUEUE_URL": IMAGE_QUEUE_URL,
        "RETRY_DELAY_SECONDS": "10",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@dataclass
class ImageBucket:
    """The moto image bucket, read the way a team member would read it."""

    client: Any

    def put_image(self, key: str, body: bytes = b"\xff\xd8\xff\xe0 not really a jpeg") -> None:
        self.client.put_object(Bucket=BUCKET, Key=key, Body=body)

    def result_keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=BUCKET, Prefix="results/")
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read_result(self, key: str) -> tuple[dict[str, Any], str]:
        """The parsed document and its Content-Type."""
        response = self.client.get_object(Bucket=BUCKET, Key=key)
        return json.loads(response["Body"].read()), response["ContentType"]


@pytest.fixture
def bucket(function_environment: dict[str, str]) -> Iterator[ImageBucket]:
    with mock_aws():
        # The cached client the function itself uses, created inside moto's mock.
        client = s3_client()
        client.create_bucket(Bucket=BUCKET)
        yield ImageBucket(client)


@dataclass
class ImageQueue:
    """The image queue as the function sees it: the visibility timeouts it sets on failed messages."""

    delays: dict[str, int] = field(default_factory=dict)
    refusal: ClientError | None = None

    def change_message_visibility(self, **request: Any) -> None:
        assert set(request) == {"QueueUrl", "ReceiptHandle", "VisibilityTimeout"}
        assert request["QueueUrl"] == IMAGE_QUEUE_URL
        if self.refusal is not None:
            raise self.refusal
        self.delays[request["ReceiptHandle"]] = request["VisibilityTimeout"]


@pytest.fixture
def image_queue(monkeypatch: pytest.MonkeyPatch, function_environment: dict[str, str]) -> ImageQueue:
    """Takes the place of the function's SQS client: tests read back which messages were hidden, how long."""
    queue = ImageQueue()
    monkeypatch.setattr(app, "sqs_client", lambda: queue)
    return queue


@dataclass
class RekognitionStub:
    """Expected DetectCustomLabels calls, in order, each with its exact request parameters."""

    stubber: Stubber

    def expect_labels(
        self,
        key: str,
        *,
        labels: list[dict[str, Any]] = LABELS,
        version: str | None = None,
        min_confidence: float | None = None,
    ) -> None:
        self.stubber.add_response(
            "detect_custom_labels", {"CustomLabels": labels}, _request(key, version, min_confidence)
        )

    def expect_error(
        self,
        key: str,
        code: str,
        *,
        message: str = "",
        status: int = 400,
        version: str | None = None,
        min_confidence: float | None = None,
    ) -> None:
        self.stubber.add_client_error(
            "detect_custom_labels",
            service_error_code=code,
            service_message=message,
            http_status_code=status,
            expected_params=_request(key, version, min_confidence),
        )


def _request(key: str, version: str | None, min_confidence: float | None) -> dict[str, Any]:
    s3_object = {"Bucket": BUCKET, "Name": key} | ({"Version": version} if version is not None else {})
    request: dict[str, Any] = {"ProjectVersionArn": PROJECT_VERSION_ARN, "Image": {"S3Object": s3_object}}
    if min_confidence is not None:
        request["MinConfidence"] = min_confidence
    return request


@pytest.fixture
def rekognition(bucket: ImageBucket) -> Iterator[RekognitionStub]:
    """Stubs the cached client the function uses.

    An unexpected call fails its record (and so the assertions on it); a call that never came fails the test.
    """
    with Stubber(rekognition_client()) as stubber:
        yield RekognitionStub(stubber)
    stubber.assert_no_pending_responses()


@dataclass
class FakeLambdaContext:
    function_name: str = "labelbatch-AnalyzeImageFunction-unit"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:labelbatch-AnalyzeImageFunction-unit"
    )
    aws_request_id: str = "6f0e4c1a-52b9-4d3e-8a7f-1c2d3e4f5a6b"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    def load(name: str) -> dict[str, Any]:
        event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
        return event

    return load


def s3_notification(
    key: str,
    *,
    bucket: str = BUCKET,
    event_name: str = "ObjectCreated:Put",
    version_id: str | None = None,
    size: int = 2048,
    e_tag: str = "d41d8cd98f00b204e9800998ecf8427e",
) -> str:
    """A notification body as S3 writes it, key URL-encoded the way S3 encodes it."""
    s3_object: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "eTag": e_tag}
    if version_id is not None:
        s3_object["versionId"] = version_id
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2025-11-21T09:14:03.512Z",
        "eventName": event_name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "ImagesCreated",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": s3_object,
        },
    }
    return json.dumps({"Records": [record]})


def sqs_event(*messages: tuple[str, str], receive_count: int = 1) -> dict[str, Any]:
    """An SQS batch as the event source mapping delivers it, from (messageId, body) pairs; the receipt handle
    of each message is "AQEB-" and its messageId."""
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"AQEB-{message_id}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": str(receive_count),
                    "SentTimestamp": "1763716443600",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1763716443611",
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": "us-east-1",
            }
            for message_id, body in messages
        ]
    }


@pytest.fixture
def make_notification() -> Callable[..., str]:
    return s3_notification


@pytest.fixture
def make_sqs_event() -> Callable[..., dict[str, Any]]:
    return sqs_event


@pytest.fixture
def log_records() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The function's structured log lines, parsed (the logger bound its stream when it was made)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    handler.setStream(previous)
