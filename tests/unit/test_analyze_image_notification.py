"""Reading S3 event notifications out of SQS message bodies."""

from __future__ import annotations

import json
import re

import pytest

from analyze_image.notification import InvalidNotificationError, ObjectEvent, parse_notification

BUCKET = "labelbatch-images-example"


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        pytest.param("images/summer+holiday.jpg", "images/summer holiday.jpg", id="space-as-plus"),
        pytest.param("images/a%2Bb.png", "images/a+b.png", id="literal-plus"),
        pytest.param("images/100%25.jpg", "images/100%.jpg", id="percent"),
        pytest.param("images/caf%C3%A9/%E2%98%95.jpeg", "images/café/☕.jpeg", id="unicode"),
        pytest.param("images%2F2025%2F11%2Fframe.JPG", "images/2025/11/frame.JPG", id="encoded-slashes"),
        pytest.param("images/a/b/c/d/e/f.jpg", "images/a/b/c/d/e/f.jpg", id="deep"),
    ],
)
def test_keys_are_url_decoded(encoded, decoded):
    # Given a record whose key S3 URL-encoded
    body = json.dumps({"Records": [record(key=encoded)]})

    # When it is parsed
    (event,) = parse_notification(body, expected_bucket=BUCKET)

    # Then the key is the real one
    assert event.key == decoded


def test_object_metadata_comes_from_the_record_and_missing_fields_are_none():
    # Given two records, one with version, eTag and size, one with none of them
    full = record(key="images/a.jpg", versionId="v1", eTag="e1", size=10)
    bare = record(key="images/b.jpg")
    for field in ("eTag", "size"):
        del bare["s3"]["object"][field]
    body = json.dumps({"Records": [full, bare]})

    # When the message is parsed
    events = parse_notification(body, expected_bucket=BUCKET)

    # Then each event carries exactly what its record said, in order
    assert events == [
        ObjectEvent("ObjectCreated:Put", BUCKET, "images/a.jpg", version_id="v1", e_tag="e1", size=10),
        ObjectEvent("ObjectCreated:Put", BUCKET, "images/b.jpg", version_id=None, e_tag=None, size=None),
    ]


def test_the_s3_test_event_yields_no_object():
    # Given the message S3 sends when the notification is configured
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET})

    # When it is parsed / Then there is nothing to analyze
    assert parse_notification(body, expected_bucket=BUCKET) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json at all", "message body is not JSON"),
        ('["Records"]', "message body is not an S3 event notification (not a JSON object)"),
        ('{"Records": []}', "message body is not an S3 event notification (no Records)"),
        ('{"detail-type": "Object Created"}', "message body is not an S3 event notification (no Records)"),
        ('{"Records": ["ObjectCreated"]}', "S3 event record has no eventSource"),
        (
            '{"Records": [{"eventSource": "aws:sqs"}]}',
            "record is not an S3 event record (eventSource is not aws:s3)",
        ),
        ('{"Records": [{"eventSource": "aws:s3", "s3": {}}]}', "S3 event record has no s3.bucket.name"),
    ],
)
def test_bodies_that_are_not_s3_notifications_are_rejected(body, reason):
    # Given a body that is not an S3 notification / When it is parsed / Then it is rejected with the reason
    with pytest.raises(InvalidNotificationError, match=f"^{re.escape(reason)}$"):
        parse_notification(body, expected_bucket=BUCKET)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: r["s3"]["object"].pop("key"), "S3 event record has no s3.object.key"),
        (lambda r: r["s3"]["object"].update(key=7), "S3 event record has a non-string s3.object.key"),
        (lambda r: r.pop("eventName"), "S3 event record has no eventName"),
        (lambda r: r["s3"]["object"].update(size="10"), "S3 event record has a non-integer s3.object.size"),
        (lambda r: r["s3"]["object"].update(size=True), "S3 event record has a non-integer s3.object.size"),
        (
            lambda r: r["s3"]["object"].update(versionId=3),
            "S3 event record has a non-string s3.object.versionId",
        ),
        (lambda r: r["s3"].update(object="images/a.jpg"), "S3 event record has no s3.object.key"),
    ],
)
def test_malformed_records_are_rejected(change, reason):
    # Given an otherwise valid record with one malformed field
    broken = record(key="images/a.jpg", versionId="v1", eTag="e1", size=10)
    change(broken)

    # When it is parsed / Then the message is rejected with the reason
    with pytest.raises(InvalidNotificationError, match=f"^{re.escape(reason)}$"):
        parse_notification(json.dumps({"Records": [broken]}), expected_bucket=BUCKET)


def test_one_record_for_another_bucket_rejects_the_whole_message():
    # Given a message with a record for our bucket followed by one for someone else's
    body = json.dumps(
        {"Records": [record(key="images/a.jpg"), record(key="images/b.jpg", bucket="elsewhere")]}
    )

    # When it is parsed / Then it is rejected whole, naming both buckets
    with pytest.raises(
        InvalidNotificationError,
        match=re.escape(f"record is for bucket 'elsewhere', this function reads only '{BUCKET}'"),
    ):
        parse_notification(body, expected_bucket=BUCKET)


@pytest.mark.parametrize(
    ("event_name", "created"),
    [
        ("ObjectCreated:Put", True),
        ("ObjectCreated:CompleteMultipartUpload", True),
        ("ObjectCreated:Copy", True),
        ("ObjectRemoved:Delete", False),
        ("ObjectRestore:Completed", False),
    ],
)
def test_only_object_created_events_count_as_uploads(event_name, created):
    (event,) = parse_notification(
        json.dumps({"Records": [record(key="images/a.jpg", eventName=event_name)]}), expected_bucket=BUCKET
    )
    assert event.is_object_created is created


def record(*, key: str, bucket: str = BUCKET, eventName: str = "ObjectCreated:Put", **s3_object) -> dict:  # noqa: N803
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": eventName,
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "eTag": "e", "size": 1} | s3_object},
    }
