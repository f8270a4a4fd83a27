"""When a failed message comes back: exponential back-off on the image queue, set by the function itself.

A message whose record fails stays in flight until its visibility timeout runs out; the queue's is 360 s
(6 x the function timeout, so that a slow batch is never delivered twice). Waiting that long would keep the
model running idle, billed, for six minutes per failure while the batch run drains. So the function hides
each failed message for a delay of its own instead: the configured delay on the first receive, doubled on
each further receive, capped below the queue's timeout. The queue's redrive policy (maxReceiveCount 5) still
decides when a message has failed for good.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# Below the queue's 360 s visibility timeout: the back-off never makes a message wait longer than a failed
# invocation (whose messages wait out the queue's timeout) would.
MAX_RETRY_DELAY_SECONDS = 300


def retry_delay_seconds(receive_count: int, *, first_delay: int) -> int:
    """Seconds to hide a message that failed on its `receive_count`-th receive (1 for the first)."""
    # Bounded so that a message received thousands of times (a queue without redrive, say) never builds a
    # huge integer; any delay doubled 9 times is past the cap anyway.
    doublings = min(max(receive_count - 1, 0), 9)
    return min(first_delay << doublings, MAX_RETRY_DELAY_SECONDS)


def delay_retry(sqs: SQSClient, *, queue_url: str, receipt_handle: str, delay: int) -> None:
    """Hide the failed message for `delay` seconds. Should SQS refuse, the message keeps the queue's own
    timeout: it is still retried, only later, so the refusal is logged and the record fails as it would."""
    try:
        sqs.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay
        )
    except (BotoCoreError, ClientError) as exc:
        logger.warning(
            "retry delay not set", extra={"reason": str(exc), "retryAfter": "queue visibility timeout"}
        )
        return
    logger.info("retry delayed", extra={"retryAfterSeconds": delay})
