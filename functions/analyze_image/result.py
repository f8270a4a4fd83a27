"""The result document: one JSON object per image, written under RESULTS_PREFIX.

This module is its only definition. Every document carries every key, so a reader never tests for one:
`customLabels` is null when `status` is "error", and `error` is null when `status` is "ok".
Change the shape only together with SCHEMA_VERSION.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypedDict

SCHEMA_VERSION: Final = 1
CONTENT_TYPE: Final = "application/json"
# S3's limit on a key, in bytes of UTF-8.
MAX_KEY_BYTES: Final = 1024


class ResultKeyTooLongError(ValueError):
    """The image's result key would be longer than S3 allows: no result can be written for it."""


class ImageInfo(TypedDict):
    bucket: str
    key: str
    # Taken from the S3 event record; null when the event did not carry them (versionId: unversioned bucket).
    versionId: str | None
    eTag: str | None
    size: int | None


class ModelInfo(TypedDict):
    projectVersionArn: str


class ErrorInfo(TypedDict):
    code: str
    message: str


class ResultDocument(TypedDict):
    schemaVersion: int
    status: Literal["ok", "error"]
    image: ImageInfo
    model: ModelInfo
    # The MinConfidence sent to Rekognition; null means the model's own per-label thresholds.
    minConfidence: float | None
    # DetectCustomLabels' CustomLabels exactly as returned, bounding boxes included.
    customLabels: list[dict[str, Any]] | None
    analyzedAt: str
    error: ErrorInfo | None


def result_document(
    *,
    image: ImageInfo,
    project_version_arn: str,
    min_confidence: float | None,
    analyzed_at: datetime,
    custom_labels: list[dict[str, Any]] | None = None,
    error: ErrorInfo | None = None,
) -> ResultDocument:
    """An "ok" document, with the model's labels, or an "error" one, with the reason."""
    if (custom_labels is None) == (error is None):
        raise ValueError("a result has either custom labels or an error")
    if analyzed_at.tzinfo is None:
        raise ValueError("analyzedAt needs a timezone-aware datetime")
    return ResultDocument(
        schemaVersion=SCHEMA_VERSION,
        status="ok" if error is None else "error",
        image=image,
        model=ModelInfo(projectVersionArn=project_version_arn),
        minConfidence=min_confidence,
        customLabels=custom_labels,
        analyzedAt=analyzed_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        error=error,
    )


def result_key(image_key: str, *, input_prefix: str, results_prefix: str) -> str:
    """`<results_prefix><key relative to input_prefix>.json`: a redelivered message rewrites its result."""
    if not image_key.startswith(input_prefix):
        raise ValueError(f"image key {image_key!r} is not under the input prefix {input_prefix!r}")
    key = f"{results_prefix}{image_key.removeprefix(input_prefix)}.json"
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        # An image key of up to 1,024 bytes is valid, but its result key adds the ".json" suffix and swaps the
        # prefixes: near the limit there is no key left to write the result under.
        raise ResultKeyTooLongError(
            f"the result key for {image_key!r} would be {size} bytes, over S3's {MAX_KEY_BYTES}-byte limit: "
            "shorten the image key"
        )
    return key


def to_json_bytes(document: ResultDocument) -> bytes:
    # Indented and unescaped: the people who uploaded the images read these files, keys in their own script.
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
