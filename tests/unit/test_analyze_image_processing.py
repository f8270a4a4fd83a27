"""process_message on its own: the exact result document and the batch's tally, with the clocks under the
test's control."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from analyze_image.analysis import ModelAccess
from analyze_image.app import s3_client
from analyze_image.pacing import CallPacer, Deadline
from analyze_image.processing import BatchTally, process_message
from analyze_image.settings import Settings

BUCKET = "labelbatch-images-example"


class RecordingMetrics:
    """Takes the place of Powertools' Metrics: (name, unit, value) in the order they were added."""

    def __init__(self) -> None:
        self.added: list[tuple[str, str, float]] = []

    def add_metric(self, *, name: str, unit: Any, value: float) -> None:
        self.added.append((name, unit.value, value))


def settings_for(function_environment: dict[str, str], *, min_confidence: float | None = None) -> Settings:
    return replace(Settings.from_env(function_environment), min_confidence=min_confidence)


def model_access(rekognition) -> ModelAccess:
    """The model at 500 calls per second with a minute to go, on a clock that stands still."""
    return ModelAccess(
        client=rekognition,
        pacer=CallPacer(0.002, clock=lambda: 0.0, sleep=lambda _: None),
        deadline=Deadline(at=60.0),
        tally=BatchTally(),
    )


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
        message_id="m-1",
        settings=settings_for(function_environment, min_confidence=80.0),
        model=model_access(rekognition),
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
        message_id="m-1",
        settings=settings_for(function_environment),
        model=model_access(rekognition),
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


def test_the_tally_counts_once_per_result_written(
    rekognition, bucket, make_notification, function_environment, labels
):
    # Given one invocation's tally, shared by two messages: one image with two labels (throttled once,
    # then 250 ms) and one in the wrong format
    model = model_access(rekognition)
    rekognition.expect_error("images/a.jpg", "ThrottlingException")
    rekognition.expect_labels("images/a.jpg", labels=labels, latency=0.25)
    rekognition.expect_error(
        "images/b.gif", "InvalidImageFormatException", message="Request has invalid image format"
    )

    # When both messages are processed and the tally is published
    for message_id, key in [("m-a", "images/a.jpg"), ("m-b", "images/b.gif")]:
        process_message(
            make_notification(key),
            message_id=message_id,
            settings=settings_for(function_environment),
            model=model,
            s3=s3_client(),
        )
    metrics = RecordingMetrics()
    model.tally.publish(metrics)

    # Then the counts go out once each, by name, and the latency once per answered call
    assert metrics.added == [
        ("ImageErrors", "Count", 1),
        ("ImagesAnalyzed", "Count", 1),
        ("LabelsFound", "Count", 2),
        ("ModelThrottles", "Count", 1),
        ("ModelLatency", "Milliseconds", 250.0),
    ]
    assert bucket.result_keys() == ["results/a.jpg.json", "results/b.gif.json"]
