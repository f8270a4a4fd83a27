"""The image queue and its dead-letter queue: counts, reading messages without consuming them, and sending
messages in the shape S3 gives its notifications."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict
from urllib.parse import quote_plus

from labelbatch.ops.target import Stack
from labelbatch.ops.times import iso

_COUNT_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
# SQS's limit on one receive, send or delete batch.
SQS_BATCH = 10
# Long enough to read a whole queue before the first message reappears; messages are released at once after.
_PEEK_VISIBILITY_SECONDS = 120
_EMPTY_ANSWERS_TO_STOP = 2


class QueueCounts(TypedDict):
    visible: int
    inFlight: int
    delayed: int
    waiting: int
    """visible + inFlight: the images a run needs the model for."""
    total: int


def queue_counts(stack: Stack, output_name: str = "ImageQueueUrl") -> QueueCounts:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs[output_name], AttributeNames=list(_COUNT_ATTRIBUTES)
    )["Attributes"]
    visible, in_flight, delayed = (int(attributes.get(name, 0)) for name in _COUNT_ATTRIBUTES)
    return QueueCounts(
        visible=visible,
        inFlight=in_flight,
        delayed=delayed,
        waiting=visible + in_flight,
        total=visible + in_flight + delayed,
    )


def queue_arn(stack: Stack, output_name: str) -> str:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs[output_name], AttributeNames=["QueueArn"]
    )["Attributes"]
    return str(attributes["QueueArn"])


@dataclass(frozen=True)
class PeekedMessage:
    message_id: str
    body: str
    receive_count: int
    sent_at: str | None
    attributes: dict[str, str]
    """String message attributes by name (the function's labelbatch-failure, for example)."""
    receipt_handle: str


@contextmanager
def peek_messages(stack: Stack, output_name: str) -> Iterator[list[PeekedMessage]]:
    """Every visible message of the queue, hidden from consumers while the block runs and visible again after.

    SQS has no read that leaves a message untouched: each read counts as one receive of the message."""
    sqs = stack.client("sqs")
    queue_url = stack.outputs[output_name]
    messages: dict[str, PeekedMessage] = {}
    empty_answers = 0
    try:
        while True:
            received = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=SQS_BATCH,
                VisibilityTimeout=_PEEK_VISIBILITY_SECONDS,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            fresh = [message for message in received if message["MessageId"] not in messages]
            # A short poll samples some of SQS's servers: only repeated empty answers mean none is left.
            empty_answers = 0 if fresh else empty_answers + 1
            if empty_answers == _EMPTY_ANSWERS_TO_STOP:
                break
            for message in fresh:
                messages[message["MessageId"]] = _peeked(message)
        yield list(messages.values())
    finally:
        release(stack, output_name, list(messages.values()))


def release(stack: Stack, output_name: str, messages: list[PeekedMessage]) -> None:
    """Make read messages visible again at once (those already deleted are skipped by SQS)."""
    sqs = stack.client("sqs")
    for start in range(0, len(messages), SQS_BATCH):
        chunk = messages[start : start + SQS_BATCH]
        sqs.change_message_visibility_batch(
            QueueUrl=stack.outputs[output_name],
            Entries=[
                {"Id": str(index), "ReceiptHandle": message.receipt_handle, "VisibilityTimeout": 0}
                for index, message in enumerate(chunk)
            ],
        )


def _peeked(message: dict[str, Any]) -> PeekedMessage:
    system = message.get("Attributes", {})
    sent = system.get("SentTimestamp")
    return PeekedMessage(
        message_id=message["MessageId"],
        body=message["Body"],
        receive_count=int(system.get("ApproximateReceiveCount", 0)),
        sent_at=iso(datetime.fromtimestamp(int(sent) / 1000, tz=UTC)) if sent else None,
        attributes={
            name: str(value["StringValue"])
            for name, value in message.get("MessageAttributes", {}).items()
            if "StringValue" in value
        },
        receipt_handle=message["ReceiptHandle"],
    )


def s3_notification(
    *, region: str, bucket: str, key: str, size: int, e_tag: str, version_id: str | None, event_time: datetime
) -> str:
    """The body S3 sends for an ObjectCreated event: one record, the key URL-encoded as S3 encodes it."""
    s3_object: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "eTag": e_tag.strip('"')}
    if version_id is not None:
        s3_object["versionId"] = version_id
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": s3_object,
        },
    }
    return json.dumps({"Records": [record]})


def send_batches(
    stack: Stack, output_name: str, bodies: list[str], attributes: dict[str, str] | None = None
) -> int:
    """Send each body as one message, ten to a request; returns how many SQS accepted."""
    sqs = stack.client("sqs")
    message_attributes = {
        name: {"DataType": "String", "StringValue": value} for name, value in (attributes or {}).items()
    }
    sent = 0
    for start in range(0, len(bodies), SQS_BATCH):
        chunk = bodies[start : start + SQS_BATCH]
        response = sqs.send_message_batch(
            QueueUrl=stack.outputs[output_name],
            Entries=[
                {"Id": str(index), "MessageBody": body, "MessageAttributes": message_attributes}
                for index, body in enumerate(chunk)
            ],
        )
        sent += len(response.get("Successful", []))
    return sent
