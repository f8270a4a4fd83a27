"""The sample events in events/ stay shaped like what AWS sends, so the tests that use them mean something."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
SQS_EVENTS = sorted(path.name for path in EVENTS_DIR.glob("sqs_*.json"))
# The messages the function itself sent back carry message attributes; S3's own carry none.
WITH_ATTRIBUTES = [
    name
    for name in SQS_EVENTS
    if any(record["messageAttributes"] for record in json.loads((EVENTS_DIR / name).read_text())["Records"])
]


def test_the_promised_samples_exist():
    assert sorted(path.name for path in EVENTS_DIR.glob("*.json")) == [
        "scheduler_batch_run.json",
        "sqs_mixed_batch.json",
        "sqs_multiple_records.json",
        "sqs_object_created_encoded_key.json",
        "sqs_retried_message.json",
        "sqs_test_event.json",
    ]


@pytest.mark.parametrize("name", SQS_EVENTS)
def test_sqs_samples_are_event_source_mapping_batches(name, load_event):
    records = load_event(name)["Records"]
    assert records
    assert len({record["messageId"] for record in records}) == len(records)
    for record in records:
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].startswith("arn:aws:sqs:us-east-1:123456789012:")
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()


@pytest.mark.parametrize("name", WITH_ATTRIBUTES)
def test_message_attributes_in_samples_carry_the_md5_sqs_gives_them(name, load_event):
    # SQS hashes message attributes by a documented encoding: send the same ones and compare
    records = [record for record in load_event(name)["Records"] if record["messageAttributes"]]
    assert records
    with mock_aws():
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="samples")["QueueUrl"]
        for record in records:
            attributes = {
                attribute: {"DataType": value["dataType"], "StringValue": value["stringValue"]}
                for attribute, value in record["messageAttributes"].items()
            }
            sqs.send_message(QueueUrl=queue_url, MessageBody=record["body"], MessageAttributes=attributes)
            (received,) = sqs.receive_message(QueueUrl=queue_url, MessageAttributeNames=["All"])["Messages"]
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=received["ReceiptHandle"])
            assert record["md5OfMessageAttributes"] == received["MD5OfMessageAttributes"]


@pytest.mark.parametrize("name", SQS_EVENTS)
def test_s3_records_in_samples_use_the_example_bucket_or_say_why_not(name, load_event):
    buckets = set()
    for record in load_event(name)["Records"]:
        try:
            body = json.loads(record["body"])
        except json.JSONDecodeError:
            continue
        buckets |= {s3_record["s3"]["bucket"]["name"] for s3_record in body.get("Records", [])}
        if body.get("Event") == "s3:TestEvent":
            buckets.add(body["Bucket"])
    expected = {"labelbatch-images-example"} | (
        {"someone-elses-bucket"} if name == "sqs_mixed_batch.json" else set()
    )
    assert buckets == expected


def test_the_scheduled_run_input_is_an_empty_object(load_event):
    assert load_event("scheduler_batch_run.json") == {}
