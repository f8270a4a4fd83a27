"""Fixtures for the function unit tests: moto for S3, keyed stand-ins for Rekognition and SQS, a fake clock.

The records of a batch are analyzed in threads of their own, so the order of calls across records is not
fixed: the stand-ins answer by image key (Rekognition) and record every request (both), checked against the
services' own models so that a malformed request fails the test as botocore would fail it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote_plus

import botocore.session
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from botocore.validate import validate_parameters
from moto import mock_aws

from analyze_image import analysis, app
from analyze_image.app import rekognition_client, s3_client, sqs_client
from analyze_image.pacing import CallPacer, Deadline
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
DEAD_LETTER_QUEUE_URL = (
    "https://sqs.us-east-1.amazonaws.com/123456789012/labelbatch-ImageDeadLetterQueue-EXAMPLE"
)

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
    """The labels the stand-in answers with unless a test says otherwise."""
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
    # Each test is a fresh execution environment, whose pace (a millisecond here) never holds a test up; the
    # pacing tests use the real interval on a fake clock.
    monkeypatch.setattr(app, "_PACER", CallPacer(interval=0.001))
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
        "DEAD_LETTER_QUEUE_URL": DEAD_LETTER_QUEUE_URL,
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


# ---------------------------------------------------------------------------- service models


@functools.cache
def _input_shape(service: str, operation: str) -> Any:
    return botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape


def checked_request(service: str, operation: str, request: dict[str, Any]) -> None:
    """Raises botocore's ParamValidationError for a request the real client would refuse to send."""
    validate_parameters(request, _input_shape(service, operation))


def client_error(code: str, *, message: str = "", status: int = 400, operation: str) -> ClientError:
    """A ClientError as botocore raises it for an error answer, HTTP status included."""
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


# ---------------------------------------------------------------------------- Rekognition


def detect_request(
    key: str, *, version: str | None = None, min_confidence: float | None = None
) -> dict[str, Any]:
    """The exact DetectCustomLabels request the function should send for an image."""
    s3_object = {"Bucket": BUCKET, "Name": key} | ({"Version": version} if version is not None else {})
    request: dict[str, Any] = {"ProjectVersionArn": PROJECT_VERSION_ARN, "Image": {"S3Object": s3_object}}
    if min_confidence is not None:
        request["MinConfidence"] = min_confidence
    return request


@dataclass(frozen=True)
class _Answer:
    request: dict[str, Any]
    labels: list[dict[str, Any]] | None = None
    error: Exception | None = None
    # Seconds the call takes on the function's (fake) performance counter.
    latency: float = 0.0
    # Run in the calling thread before the answer, for tests that need to see calls overlap.
    meanwhile: Callable[[], object] | None = None


class ScriptedRekognition:
    """Stands in for the function's Rekognition client, answering DetectCustomLabels by image key.

    Each key answers its scripted outcomes in turn, whichever thread asks. A request that differs from the
    scripted one, or that botocore would refuse, or a call for a key with nothing left to answer, is recorded
    as a problem (the function would take the exception for a failed call) and fails the test at teardown,
    as does a scripted answer nobody asked for.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, list[_Answer]] = {}
        self._elapsed = threading.local()
        self.requests: list[dict[str, Any]] = []
        self.problems: list[str] = []
        # When a test sets a clock, the time of every call, in call order.
        self.clock: Callable[[], float] | None = None
        self.call_times: list[float] = []

    def expect_labels(
        self,
        key: str,
        *,
        labels: list[dict[str, Any]] = LABELS,
        version: str | None = None,
        min_confidence: float | None = None,
        latency: float = 0.0,
        meanwhile: Callable[[], object] | None = None,
    ) -> None:
        request = detect_request(key, version=version, min_confidence=min_confidence)
        self._script(key, _Answer(request, labels=labels, latency=latency, meanwhile=meanwhile))

    def expect_error(
        self,
        key: str,
        code: str,
        *,
        message: str = "",
        status: int = 400,
        version: str | None = None,
        latency: float = 0.0,
    ) -> None:
        error = client_error(code, message=message, status=status, operation="DetectCustomLabels")
        self._script(key, _Answer(detect_request(key, version=version), error=error, latency=latency))

    def expect_failure(self, key: str, error: Exception) -> None:
        """An exception raised below the HTTP layer (timeouts, connection errors)."""
        self._script(key, _Answer(detect_request(key), error=error))

    def _script(self, key: str, answer: _Answer) -> None:
        with self._lock:
            self._answers.setdefault(key, []).append(answer)

    def detect_custom_labels(self, **request: Any) -> dict[str, Any]:
        key = request.get("Image", {}).get("S3Object", {}).get("Name", "?")
        with self._lock:
            self.requests.append(request)
            if self.clock is not None:
                self.call_times.append(self.clock())
            answers = self._answers.get(key, [])
            answer = answers.pop(0) if answers else None
            if answer is None:
                self.problems.append(f"unexpected DetectCustomLabels call for {key!r}")
            elif request != answer.request:
                self.problems.append(
                    f"DetectCustomLabels for {key!r}: sent {request}, expected {answer.request}"
                )
        try:
            checked_request("rekognition", "DetectCustomLabels", request)
        except ParamValidationError as exc:
            self.problems.append(f"DetectCustomLabels for {key!r}: {exc}")
            raise
        if answer is None:
            raise AssertionError(f"unexpected DetectCustomLabels call for {key!r}")
        if answer.meanwhile is not None:
            answer.meanwhile()
        self._elapsed.seconds = self.perf_counter() + answer.latency
        if answer.error is not None:
            raise answer.error
        return {"CustomLabels": copy.deepcopy(answer.labels)}

    def perf_counter(self) -> float:
        """The function's performance counter, per thread: only scripted latencies advance it."""
        seconds: float = getattr(self._elapsed, "seconds", 0.0)
        return seconds

    def pending(self) -> dict[str, int]:
        with self._lock:
            return {key: len(answers) for key, answers in self._answers.items() if answers}

    def keys_asked(self) -> list[str]:
        """Image keys of the requests, in call order."""
        return [request["Image"]["S3Object"]["Name"] for request in self.requests]


@pytest.fixture
def rekognition(
    monkeypatch: pytest.MonkeyPatch, function_environment: dict[str, str]
) -> Iterator[ScriptedRekognition]:
    """Takes the place of the function's Rekognition client and of the clock it times model calls with."""
    scripted = ScriptedRekognition()
    monkeypatch.setattr(app, "rekognition_client", lambda: scripted)
    monkeypatch.setattr(analysis, "time", SimpleNamespace(perf_counter=scripted.perf_counter))
    yield scripted
    assert scripted.problems == []
    assert scripted.pending() == {}, "scripted answers nobody asked for"


# ---------------------------------------------------------------------------- SQS


class ImageQueues:
    """Stands in for the function's SQS client: the image queue and its dead-letter queue.

    Records the messages the function sends (retries, dead letters) and the visibility changes it asks for,
    each request checked against SQS's service model. `refuse` makes an operation answer an error instead.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[dict[str, Any]] = []
        self.visibility_changes: list[dict[str, Any]] = []
        self.refusals: dict[str, ClientError] = {}

    def refuse(self, operation: str, code: str, message: str) -> None:
        self.refusals[operation] = client_error(code, message=message, operation=operation)

    def send_message(self, **request: Any) -> dict[str, Any]:
        checked_request("sqs", "SendMessage", request)
        if "SendMessage" in self.refusals:
            raise self.refusals["SendMessage"]
        with self._lock:
            self.sent.append(request)
            return {"MessageId": f"sent-{len(self.sent)}", "MD5OfMessageBody": "0" * 32}

    def change_message_visibility(self, **request: Any) -> dict[str, Any]:
        checked_request("sqs", "ChangeMessageVisibility", request)
        if "ChangeMessageVisibility" in self.refusals:
            raise self.refusals["ChangeMessageVisibility"]
        with self._lock:
            self.visibility_changes.append(request)
        return {}

    def messages(self) -> list[dict[str, Any]]:
        """The SendMessage requests, ordered by queue and by the ID of the message each continues (threads
        send them in no fixed order)."""
        return sorted(
            self.sent,
            key=lambda request: (
                request["QueueUrl"],
                request["MessageAttributes"]["labelbatch-first-message-id"]["StringValue"],
            ),
        )

    def made_visible(self) -> list[str]:
        """Receipt handles made visible again at once, sorted."""
        assert all(request["QueueUrl"] == IMAGE_QUEUE_URL for request in self.visibility_changes)
        assert all(request["VisibilityTimeout"] == 0 for request in self.visibility_changes)
        return sorted(request["ReceiptHandle"] for request in self.visibility_changes)


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch, function_environment: dict[str, str]) -> ImageQueues:
    """Takes the place of the function's SQS client."""
    stand_in = ImageQueues()
    monkeypatch.setattr(app, "sqs_client", lambda: stand_in)
    return stand_in


# ---------------------------------------------------------------------------- time


class FakeClock:
    """A monotonic clock that only sleeping advances; every sleep is recorded."""

    def __init__(self, start: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._now = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at 100.0 s, for code that takes its clock and sleep as arguments."""
    return FakeClock(start=100.0)


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch, rekognition: ScriptedRekognition) -> FakeClock:
    """The handler's pace and deadline on a fake clock starting at 0.0; model calls are stamped with it.

    Only for batches of one record: the threads of several records would advance the clock in no fixed order.
    """
    clock = FakeClock()
    monkeypatch.setattr(app, "_PACER", CallPacer(clock=clock.now, sleep=clock.sleep))

    class ClockedDeadline:
        @staticmethod
        def before_timeout(remaining_ms: int, *, margin_seconds: float) -> Deadline:
            return Deadline.before_timeout(remaining_ms, margin_seconds=margin_seconds, clock=clock.now)

    monkeypatch.setattr(app, "Deadline", ClockedDeadline)
    rekognition.clock = clock.now
    return clock


# ---------------------------------------------------------------------------- Lambda


@dataclass
class FakeLambdaContext:
    function_name: str = "labelbatch-AnalyzeImageFunction-unit"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:labelbatch-AnalyzeImageFunction-unit"
    )
    aws_request_id: str = "6f0e4c1a-52b9-4d3e-8a7f-1c2d3e4f5a6b"
    # The function timeout is 60 s.
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


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


def sqs_event(
    *messages: tuple[str, str], receive_count: int = 1, attributes: dict[str, tuple[str, str]] | None = None
) -> dict[str, Any]:
    """An SQS batch as the event source mapping delivers it, from (messageId, body) pairs; the receipt handle
    of each message is "AQEB-" and its messageId. `attributes` are message attributes, name: (type, value),
    given to every message in the shape Lambda delivers them."""
    message_attributes = {
        name: {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": data_type}
        for name, (data_type, value) in (attributes or {}).items()
    }
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
                "messageAttributes": copy.deepcopy(message_attributes),
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
