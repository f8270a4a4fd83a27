"""What becomes of a message whose images were not all answered: retried later, dead-lettered, back now.

- An image that failed for a reason outside it (the model not running, a service fault, a permission) goes
  back on the image queue with SQS's DelaySeconds and an attempt count; the received copy is deleted. A
  delayed message does not count as waiting, so no run keeps the model running for a retry it cannot use yet.
  The delay doubles per attempt and the fifth failure dead-letters the message.
- A message no retry can fix (not an S3 notification of this bucket, a result key over S3's limit) goes to the
  dead-letter queue at once, with its reason in a message attribute.
- An image the invocation had no time left for comes back at once: a batch item failure, made visible again.

The queue's own redrive policy stays as the backstop for an invocation that crashed or timed out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from botocore.exceptions import BotoCoreError, ClientError

from observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

# SQS caps DelaySeconds at 900; below the queue's 360 s visibility timeout, a retry never waits longer than a
# crashed invocation's messages do.
MAX_RETRY_DELAY_SECONDS: Final = 300
# Attempts before a message is dead-lettered: 10, 20, 40 and 80 s apart with the default delay.
MAX_ATTEMPTS: Final = 5
ATTEMPT_ATTRIBUTE: Final = "labelbatch-attempt"
FAILURE_ATTRIBUTE: Final = "labelbatch-failure"
# The first message's ID follows the image through its retries to the dead-letter queue.
FIRST_MESSAGE_ATTRIBUTE: Final = "labelbatch-first-message-id"


@dataclass(frozen=True, slots=True)
class Queues:
    sqs: SQSClient
    image_queue_url: str
    dead_letter_queue_url: str


def retry_delay_seconds(attempt: int, *, first_delay: int) -> int:
    """Seconds before attempt `attempt + 1`, after attempt `attempt` (1 for the first) failed."""
    # Bounded so that a huge attempt count never builds a huge integer; 9 doublings pass the cap anyway.
    doublings = min(max(attempt - 1, 0), 9)
    return min(first_delay << doublings, MAX_RETRY_DELAY_SECONDS)


def attempt_of(record: SQSRecord) -> int:
    """Which attempt this delivery is: 1 for a message as S3 sent it."""
    value = _attribute(record, ATTEMPT_ATTRIBUTE)
    return int(value) if value is not None and value.isdigit() else 1


def retry_later(
    record: SQSRecord, queues: Queues, *, reason: str, first_delay: int
) -> Literal["retried", "dead-lettered"]:
    """Put the message back for another attempt after the back-off, or dead-letter it after the last one."""
    attempt = attempt_of(record)
    if attempt >= MAX_ATTEMPTS:
        dead_letter(record, queues, reason=f"{reason} (attempt {attempt} of {MAX_ATTEMPTS})")
        return "dead-lettered"
    delay = retry_delay_seconds(attempt, first_delay=first_delay)
    # Logged first, so that the reason is known even should the message fail to go back.
    retry = {"reason": reason, "attempt": attempt, "retryAfterSeconds": delay}
    logger.warning("message failed", extra={"messageId": record.message_id, **retry})
    next_attempt = _string(str(attempt + 1), data_type="Number")
    carried = _first_message(record) | {ATTEMPT_ATTRIBUTE: next_attempt}
    queues.sqs.send_message(
        QueueUrl=queues.image_queue_url,
        MessageBody=record.body,
        DelaySeconds=delay,
        MessageAttributes=carried,
    )
    return "retried"


def dead_letter(record: SQSRecord, queues: Queues, *, reason: str) -> None:
    logger.error(
        "message failed", extra={"messageId": record.message_id, "reason": reason, "deadLettered": True}
    )
    attributes = _first_message(record) | {FAILURE_ATTRIBUTE: _string(reason)}
    queues.sqs.send_message(
        QueueUrl=queues.dead_letter_queue_url, MessageBody=record.body, MessageAttributes=attributes
    )


def come_back_now(record: SQSRecord, queues: Queues) -> None:
    """Make the message visible again at once (the record is then reported as a batch item failure)."""
    try:
        queues.sqs.change_message_visibility(
            QueueUrl=queues.image_queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=0
        )
    except (BotoCoreError, ClientError) as exc:
        # It comes back after the queue's visibility timeout instead: later, but not lost.
        logger.warning("message not made visible", extra={"messageId": record.message_id, "reason": str(exc)})


def _first_message(record: SQSRecord) -> dict[str, MessageAttributeValueTypeDef]:
    first_id = _attribute(record, FIRST_MESSAGE_ATTRIBUTE) or record.message_id
    return {FIRST_MESSAGE_ATTRIBUTE: _string(first_id)}


def _attribute(record: SQSRecord, name: str) -> str | None:
    # Indexing, not .get(): Powertools wraps the value only on [] (None when the attribute is absent).
    attribute = record.message_attributes[name]
    return attribute.string_value if attribute is not None else None


def _string(value: str, data_type: str = "String") -> MessageAttributeValueTypeDef:
    return {"DataType": data_type, "StringValue": value}
