"""What the function does with one image-queue message: every image of its S3 notification, in order."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from analyze_image.analysis import Labels, ModelAccess, detect_custom_labels
from analyze_image.notification import ObjectEvent, parse_notification
from analyze_image.result import (
    CONTENT_TYPE,
    ErrorInfo,
    ImageInfo,
    result_document,
    result_key,
    to_json_bytes,
)
from observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.metrics import Metrics
    from mypy_boto3_s3 import S3Client

    from analyze_image.settings import Settings


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BatchTally:
    """What one invocation's records met, counted from their threads and published once from the handler's
    (Powertools' Metrics is not made for concurrent use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._latencies_ms: list[float] = []

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            self._counts[name] += count

    def model_latency(self, milliseconds: float) -> None:
        with self._lock:
            self._latencies_ms.append(milliseconds)

    def publish(self, metrics: Metrics) -> None:
        for name, count in sorted(self._counts.items()):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
        for milliseconds in self._latencies_ms:
            metrics.add_metric(name="ModelLatency", unit=MetricUnit.Milliseconds, value=milliseconds)


def process_message(
    body: str,
    *,
    message_id: str,
    settings: Settings,
    model: ModelAccess,
    s3: S3Client,
    clock: Callable[[], datetime] = _utc_now,
) -> None:
    """Analyze every image the message announces and write one result per image.

    Raises when the message cannot be answered whole; settle.py decides what becomes of it. Results already
    written for earlier images of the message are rewritten on redelivery.
    """
    events = parse_notification(body, expected_bucket=settings.image_bucket)
    # Only S3's s3:TestEvent parses to no events (parse_notification rejects an empty Records list).
    if not events:
        logger.info("ignored", extra={"messageId": message_id, "reason": "s3:TestEvent"})
    for event in events:
        reason = _ignore_reason(event, settings)
        if reason is None:
            _analyze(event, message_id=message_id, settings=settings, model=model, s3=s3, clock=clock)
            continue
        seen = {"eventName": event.event_name, "bucket": event.bucket, "key": event.key}
        logger.info("ignored", extra={"messageId": message_id, "reason": reason, **seen})


def _ignore_reason(event: ObjectEvent, settings: Settings) -> str | None:
    if not event.is_object_created:
        return "not an ObjectCreated event"
    if event.key.endswith("/"):
        return "folder marker"
    # Checked before the input prefix: with an empty INPUT_PREFIX the results live inside the watched scope,
    # and analyzing them would loop.
    if event.key.startswith(settings.results_prefix):
        return "under the results prefix"
    if not event.key.startswith(settings.input_prefix):
        return "outside the input prefix"
    return None


def _analyze(
    event: ObjectEvent,
    *,
    message_id: str,
    settings: Settings,
    model: ModelAccess,
    s3: S3Client,
    clock: Callable[[], datetime],
) -> None:
    # Before the model is asked: an image whose result cannot be stored must not cost an inference.
    key = result_key(event.key, input_prefix=settings.input_prefix, results_prefix=settings.results_prefix)
    outcome = detect_custom_labels(
        event,
        project_version_arn=settings.project_version_arn,
        min_confidence=settings.min_confidence,
        model=model,
        s3=s3,
    )
    document = result_document(
        image=ImageInfo(
            bucket=event.bucket, key=event.key, versionId=event.version_id, eTag=event.e_tag, size=event.size
        ),
        project_version_arn=settings.project_version_arn,
        min_confidence=settings.min_confidence,
        analyzed_at=clock(),
        custom_labels=outcome.custom_labels if isinstance(outcome, Labels) else None,
        error=None if isinstance(outcome, Labels) else ErrorInfo(code=outcome.code, message=outcome.message),
    )
    s3.put_object(Bucket=event.bucket, Key=key, Body=to_json_bytes(document), ContentType=CONTENT_TYPE)
    # Counted once the result exists, so that a failed write and its retry do not count twice.
    logged = {"messageId": message_id, "bucket": event.bucket, "key": event.key, "resultKey": key}
    if not isinstance(outcome, Labels):
        model.tally.add("ImageErrors")
        logger.warning(
            "image error", extra={**logged, "errorCode": outcome.code, "errorMessage": outcome.message}
        )
        return
    model.tally.add("ImagesAnalyzed")
    model.tally.add("LabelsFound", len(outcome.custom_labels))
    answer = {"versionId": event.version_id, "labels": len(outcome.custom_labels)}
    logger.info("analyzed", extra={**logged, **answer, "latencyMs": round(outcome.latency_ms, 1)})
