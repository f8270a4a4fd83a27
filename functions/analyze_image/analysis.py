"""Asking the Custom Labels model about one image, and telling problems of the image from everything else.

Calls go at the execution environment's pace (pacing.py). Throttling is how a model at capacity says so,
not a failure: the call is made again at the next slot, for as long as the invocation has time. A fault of the
service (5xx, a timeout, a dropped connection) gets two more tries at once; anything else outside the image
fails the image, to be retried later (settle.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from analyze_image.notification import ObjectEvent
    from analyze_image.pacing import CallPacer, Deadline

# Answers for an image Rekognition will never analyze: it gets an error result, so the team sees why, instead
# of cycling into the dead-letter queue. InvalidParameterException is also the bare answer for an image
# outside the pixel-dimension limits; the request's other parameters are checked before any call (settings.py,
# the template), except a model ARN that is not Custom Labels', which turns every image into an error result.
IMAGE_ERROR_CODES: Final = frozenset(
    {
        "InvalidImageFormatException",
        "ImageTooLargeException",
        "InvalidS3ObjectException",
        "InvalidParameterException",
    }
)
# The model (or the account's Rekognition quota) is at capacity: the next slot will do.
THROTTLING_CODES: Final = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "LimitExceededException"}
)
SERVICE_FAULT_ATTEMPTS: Final = 3
_MISSING_OBJECT_CODES: Final = frozenset({"404", "NoSuchKey", "NoSuchVersion"})
_MISSING_OBJECT: Final = "The object no longer exists in S3: it was deleted before it could be analyzed."


class CustomLabelsApi(Protocol):
    """The one Rekognition operation this function calls: botocore's client, or a stand-in in tests."""

    def detect_custom_labels(self, **request: Any) -> Mapping[str, Any]: ...


class Tally(Protocol):
    """Counts what a batch's model calls met (the invocation publishes the counts as metrics)."""

    def add(self, name: str, count: int = 1) -> None: ...
    def model_latency(self, milliseconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class ModelAccess:
    """How an invocation reaches the model: the client, the environment's pace, the time left, the tally."""

    client: CustomLabelsApi
    pacer: CallPacer
    deadline: Deadline
    tally: Tally


@dataclass(frozen=True, slots=True)
class Labels:
    custom_labels: list[dict[str, Any]]
    # The answered call's own time, throttled tries left out.
    latency_ms: float


@dataclass(frozen=True, slots=True)
class ImageProblem:
    code: str
    message: str


class AnalysisFailedError(RuntimeError):
    """DetectCustomLabels failed for a reason outside the image (throttling is retried instead): no error
    result is written, and a retry, or a fix of the configuration and a redrive, can still analyze it."""


class OutOfTimeError(RuntimeError):
    """The invocation reached its deadline before the model could answer: the message comes back at once."""


def detect_custom_labels(
    image: ObjectEvent,
    *,
    project_version_arn: str,
    min_confidence: float | None,
    model: ModelAccess,
    s3: S3Client,
) -> Labels | ImageProblem:
    s3_object = {"Bucket": image.bucket, "Name": image.key}
    if image.version_id is not None:
        # Analyze the very version that was uploaded, even if the key has been overwritten since.
        s3_object["Version"] = image.version_id
    request: dict[str, Any] = {"ProjectVersionArn": project_version_arn, "Image": {"S3Object": s3_object}}
    if min_confidence is not None:
        request["MinConfidence"] = min_confidence
    url = f"s3://{image.bucket}/{image.key}"
    faults = 0
    while True:
        if not model.pacer.acquire(model.deadline.at):
            raise OutOfTimeError(f"no time left to analyze {url} in this invocation")
        started = time.perf_counter()
        try:
            response = model.client.detect_custom_labels(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "Unknown")
            if code in THROTTLING_CODES:
                model.tally.add("ModelThrottles")
                continue
            if code == "InvalidS3ObjectException":
                if _object_exists(image, s3):
                    raise AnalysisFailedError(
                        f"Rekognition could not read {url}, which exists: check that the function's"
                        " role may read it (s3:GetObject, and kms:Decrypt if a KMS key encrypts it)"
                    ) from exc
                return ImageProblem(code=code, message=_MISSING_OBJECT)
            if code in IMAGE_ERROR_CODES:
                return ImageProblem(code=code, message=error.get("Message", ""))
            faults += 1
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if status >= 500 and faults < SERVICE_FAULT_ATTEMPTS:
                continue
            raise AnalysisFailedError(f"DetectCustomLabels failed with {code} for {url}") from exc
        except BotoCoreError as exc:
            # Timeouts and connection errors.
            faults += 1
            if faults < SERVICE_FAULT_ATTEMPTS:
                continue
            raise AnalysisFailedError(f"DetectCustomLabels did not answer for {url}: {exc}") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        model.tally.model_latency(latency_ms)
        return Labels(custom_labels=list(response["CustomLabels"]), latency_ms=latency_ms)


def _object_exists(image: ObjectEvent, s3: S3Client) -> bool:
    """InvalidS3ObjectException means a missing object or one Rekognition may not read (the role, a KMS
    key); only the first is a problem of the image. Any other answer from S3 (403 too) fails the record."""
    try:
        if image.version_id is None:
            s3.head_object(Bucket=image.bucket, Key=image.key)
        else:
            s3.head_object(Bucket=image.bucket, Key=image.key, VersionId=image.version_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_OBJECT_CODES:
            return False
        raise
    return True
