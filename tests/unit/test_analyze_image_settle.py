"""How long a failed message waits before its next attempt, and which attempt a delivery is."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from analyze_image.settle import attempt_of, retry_delay_seconds


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [(1, 10), (2, 20), (3, 40), (4, 80), (5, 160), (6, 300), (7, 300), (10**6, 300)],
)
def test_the_retry_delay_doubles_per_attempt_up_to_300_seconds(attempt, delay):
    assert retry_delay_seconds(attempt, first_delay=10) == delay


@pytest.mark.parametrize(
    ("first_delay", "delays"), [(1, [1, 2, 4, 8]), (100, [100, 200, 300, 300]), (300, [300, 300, 300, 300])]
)
def test_the_first_delay_is_the_configured_one_and_the_cap_holds_for_any(first_delay, delays):
    assert [retry_delay_seconds(attempt, first_delay=first_delay) for attempt in (1, 2, 3, 4)] == delays


def delivery(**attributes: str) -> SQSRecord:
    """An image-queue record as Lambda delivers it, with string message attributes name=value."""
    return SQSRecord(
        {
            "messageId": "m-1",
            "receiptHandle": "AQEB-m-1",
            "body": "{}",
            "attributes": {"ApproximateReceiveCount": "2"},
            "messageAttributes": {
                name.replace("_", "-"): {
                    "stringValue": value,
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": "Number",
                }
                for name, value in attributes.items()
            },
        }
    )


def test_a_message_as_s3_sent_it_is_the_first_attempt_whatever_its_receive_count():
    assert attempt_of(delivery()) == 1


@pytest.mark.parametrize(("value", "attempt"), [("2", 2), ("5", 5), ("two", 1), ("-3", 1)])
def test_a_retried_message_carries_its_attempt(value, attempt):
    # A value that is not a whole number (a message edited by hand, say) counts as the first attempt.
    assert attempt_of(delivery(labelbatch_attempt=value)) == attempt
