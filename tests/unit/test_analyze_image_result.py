"""The result document and where it is stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from analyze_image.result import ErrorInfo, ImageInfo, result_document, result_key, to_json_bytes

IMAGE = ImageInfo(
    bucket="labelbatch-images-example", key="images/crème.jpg", versionId=None, eTag="e", size=3
)
ARN = "arn:aws:rekognition:us-east-1:123456789012:project/p/version/v/1"
NOON_UTC = datetime(2025, 11, 21, 12, 0, 0, 999999, tzinfo=UTC)


@pytest.mark.parametrize(
    ("input_prefix", "results_prefix", "key", "expected"),
    [
        ("images/", "results/", "images/a.jpg", "results/a.jpg.json"),
        ("images/", "results/", "images/a b+c%/d ☕.JPG", "results/a b+c%/d ☕.JPG.json"),
        ("images/", "results/", "images/2025/11/21/a.png", "results/2025/11/21/a.png.json"),
        ("", "results/", "photos/a.jpg", "results/photos/a.jpg.json"),
        ("in/", "out/labels-", "in/a.jpg", "out/labels-a.jpg.json"),
    ],
)
def test_result_key_is_the_key_relative_to_the_input_prefix_under_the_results_prefix(
    input_prefix, results_prefix, key, expected
):
    assert result_key(key, input_prefix=input_prefix, results_prefix=results_prefix) == expected


def test_result_key_refuses_a_key_outside_the_input_prefix():
    with pytest.raises(ValueError, match="is not under the input prefix"):
        result_key("uploads/a.jpg", input_prefix="images/", results_prefix="results/")


def test_an_ok_result_has_labels_and_a_null_error():
    labels = [{"Name": "ok", "Confidence": 99.5}]
    assert result_document(
        image=IMAGE, project_version_arn=ARN, min_confidence=None, custom_labels=labels, analyzed_at=NOON_UTC
    ) == {
        "schemaVersion": 1,
        "status": "ok",
        "image": IMAGE,
        "model": {"projectVersionArn": ARN},
        "minConfidence": None,
        "customLabels": labels,
        "analyzedAt": "2025-11-21T12:00:00.999Z",
        "error": None,
    }


def test_an_error_result_has_an_error_and_null_labels():
    assert result_document(
        image=IMAGE,
        project_version_arn=ARN,
        min_confidence=50.0,
        error=ErrorInfo(code="ImageTooLargeException", message="Image size is too large."),
        analyzed_at=NOON_UTC,
    ) == {
        "schemaVersion": 1,
        "status": "error",
        "image": IMAGE,
        "model": {"projectVersionArn": ARN},
        "minConfidence": 50.0,
        "customLabels": None,
        "analyzedAt": "2025-11-21T12:00:00.999Z",
        "error": {"code": "ImageTooLargeException", "message": "Image size is too large."},
    }


@pytest.mark.parametrize(
    "outcome",
    [{}, {"custom_labels": [], "error": ErrorInfo(code="ImageTooLargeException", message="Too large.")}],
    ids=["neither", "both"],
)
def test_a_result_has_either_labels_or_an_error(outcome):
    with pytest.raises(ValueError, match=r"^a result has either custom labels or an error$"):
        result_document(
            image=IMAGE, project_version_arn=ARN, min_confidence=None, analyzed_at=NOON_UTC, **outcome
        )


def test_analyzed_at_is_converted_to_utc_and_a_naive_time_is_refused():
    west = datetime(2025, 11, 21, 7, 30, tzinfo=timezone(timedelta(hours=-5)))
    document = result_document(
        image=IMAGE, project_version_arn=ARN, min_confidence=None, custom_labels=[], analyzed_at=west
    )
    assert document["analyzedAt"] == "2025-11-21T12:30:00.000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        result_document(
            image=IMAGE,
            project_version_arn=ARN,
            min_confidence=None,
            custom_labels=[],
            analyzed_at=datetime(2025, 11, 21, 12, 0),
        )


def test_the_stored_json_is_utf8_with_keys_in_their_own_script():
    document = result_document(
        image=IMAGE, project_version_arn=ARN, min_confidence=None, custom_labels=[], analyzed_at=NOON_UTC
    )
    stored = to_json_bytes(document)
    assert "images/crème.jpg".encode() in stored
    assert json.loads(stored) == document
