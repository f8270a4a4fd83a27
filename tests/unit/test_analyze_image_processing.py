"""process_message on its own: the exact result document, with the clock under the test's control."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from analyze_image.clients import rekognition_client, s3_client
from analyze_image.processing import process_message
from analyze_image.settings import Settings

pytestmark = pytest.mark.unit

BUCKET = "labelbatch-images-example"


def settings_for(function_environment: dict[str, str], *, min_confidence: float | None = None) -> Settings:
    return replace(Settings.from_env(function_environment), min_confidence=min_confidence)


def test_the_result_document_is_complete_and_stamped_in_utc(
    rekognition, bucket, make_notification, function_environment, labels
):
    # Given an image uploaded to a versioned bucket, a MinConfidence, and a clock two hours east of UTC
    body = make_notification(
        "images/line 4/part 17.png", version_id="v-0001", size=73001, e_tag="8f14e45fceea167a5a36dedd4bea2543"
    )
    rekognition.expect_labels("images/line 4/part 17.png", version="v-0001", min_confidence=80.0)
    clock = lambda: datetime(2025, 11, 21, 11, 15, 0, 123456, tzinfo=timezone(timedelta(hours=2)))  # noqa: E731

    # When the message is processed
    process_message(
        body,
        settings=settings_for(function_environment, min_confidence=80.0),
        rekognition=rekognition_client(),
        s3=s3_client(),
        clock=clock,
    )

    # Then every field of the document is what the team expects, analyzedAt in UTC with milliseconds
    document, content_type = bucket.read_result("results/line 4/part 17.png.json")
    assert content_type == "application/json"
    assert document == {
        "schemaVersion": 1,
        "status": "ok",
        "image": {
            "bucket": BUCKET,
            "key": "images/line 4/part 17.png",
            "versionId": "v-0001",
            "eTag": "8f14e45fceea167a5a36dedd4bea2543",
            "size": 73001,
        },
        "model": {"projectVersionArn": function_environment["PROJECT_VERSION_ARN"]},
        "minConfidence": 80.0,
        "customLabels": labels,
        "analyzedAt": "2025-11-21T09:15:00.123Z",
        "error": None,
    }


def test_a_deleted_version_gets_an_error_result(rekognition, bucket, make_notification, function_environment):
    # Given a versioned bucket where the announced version was deleted before the batch ran
    bucket.client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    version = bucket.client.put_object(Bucket=BUCKET, Key="images/a.jpg", Body=b"jpeg")["VersionId"]
    bucket.client.delete_object(Bucket=BUCKET, Key="images/a.jpg", VersionId=version)
    rekognition.expect_error("images/a.jpg", "InvalidS3ObjectException", version=version)

    # When the message is processed
    process_message(
        make_notification("images/a.jpg", version_id=version, size=4, e_tag="e"),
        settings=settings_for(function_environment),
        rekognition=rekognition_client(),
        s3=s3_client(),
        clock=lambda: datetime(2025, 11, 21, 9, 0, tzinfo=UTC),
    )

    # Then the result says the object is gone
    document, _ = bucket.read_result("results/a.jpg.json")
    assert (document["status"], document["customLabels"], document["error"]) == (
        "error",
        None,
        {
            "code": "InvalidS3ObjectException",
            "message": "The object no longer exists in S3: it was deleted before it could be analyzed.",
        },
    )
