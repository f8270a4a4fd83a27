"""`labelbatch redrive`: why each dead-lettered message failed, then back to the image queue with them."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pytest

from labelbatch.ops.queues import s3_notification
from labelbatch.ops.times import parse_iso
from ops.conftest import Operator
from support.stack_helpers import StackUnderTest

MESSAGE_KEYS = {"messageId", "sentAt", "receiveCount", "imageKeys", "reason", "reasonSource", "body"}
# moto 5.2.5 has no StartMessageMoveTask: its server answers HTTP 500.
MOVE_TASK_REFUSED = "the endpoint refused StartMessageMoveTask (500)"


def notification(stack: StackUnderTest, key: str) -> str:
    return s3_notification(
        region=stack.region,
        bucket=stack.bucket,
        key=key,
        size=100,
        e_tag="0123456789abcdef",
        version_id=None,
        event_time=parse_iso("2026-11-22T10:00:00Z"),
    )


def dead_letter(stack: StackUnderTest, body: str, attributes: dict[str, str] | None = None) -> str:
    """Put a message straight on the dead-letter queue, as the function or the redrive policy would."""
    response = stack.client("sqs").send_message(
        QueueUrl=stack.outputs["DeadLetterQueueUrl"],
        MessageBody=body,
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value} for name, value in (attributes or {}).items()
        },
    )
    return str(response["MessageId"])


def log_as_the_function(stack: StackUnderTest, line: dict[str, Any]) -> None:
    """A line in the function's log group (Lambda's default group: moto keeps no LoggingConfig)."""
    logs = stack.client("logs")
    group = f"/aws/lambda/{stack.outputs['AnalyzeImageFunctionName']}"
    # An earlier test on the shared stack may have created them.
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName="2026/11/22/[$LATEST]0")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2026/11/22/[$LATEST]0",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(line)}],
    )


@pytest.fixture
def four_dead_letters(stack: StackUnderTest) -> dict[str, tuple[list[str], str | None, str | None]]:
    """One dead letter per source of its reason, by message ID: (image keys, reason, source)."""
    prefix = stack.input_prefix
    unparsable = dead_letter(stack, "not json")
    marked = dead_letter(
        stack,
        notification(stack, f"{prefix}marked.png"),
        {"labelbatch-failure": "the result key would pass S3's limit"},
    )
    logged = dead_letter(stack, notification(stack, f"{prefix}logged [draft].png"))
    log_as_the_function(
        stack, {"level": "ERROR", "message": "message failed", "messageId": logged, "reason": "boom"}
    )
    silent = dead_letter(stack, notification(stack, f"{prefix}silent café.jpg"))
    return {
        unparsable: ([], "message body is not JSON", "body"),
        marked: ([f"{prefix}marked.png"], "the result key would pass S3's limit", "attribute"),
        logged: ([f"{prefix}logged [draft].png"], "boom", "log"),
        silent: ([f"{prefix}silent café.jpg"], None, None),
    }


def test_dry_run_shows_each_reason_from_where_it_was_found_and_moves_nothing(
    operator: Operator,
    stack: StackUnderTest,
    four_dead_letters: dict[str, tuple[list[str], str | None, str | None]],
) -> None:
    # When the operator looks at the dead-letter queue
    report = operator.json("redrive", "--dry-run")

    # Then each message has its images and its reason, and the queues are as they were
    assert (report["dryRun"], report["moved"], report["method"], report["methodNote"]) == (
        True,
        0,
        None,
        None,
    )
    seen = {message["messageId"]: message for message in report["messages"]}
    assert all(set(message) == MESSAGE_KEYS for message in seen.values())
    assert {
        message_id: (message["imageKeys"], message["reason"], message["reasonSource"])
        for message_id, message in seen.items()
    } == four_dead_letters
    assert stack.dead_letters() == 4
    assert stack.queue_backlog() == 0


def test_redrive_moves_every_message_back_and_says_how(
    operator: Operator,
    stack: StackUnderTest,
    four_dead_letters: dict[str, tuple[list[str], str | None, str | None]],
) -> None:
    # Given the bodies waiting in the dead-letter queue
    bodies = sorted(message["body"] for message in operator.json("redrive", "--dry-run")["messages"])

    # When the operator redrives them
    report = operator.json("redrive")

    # Then all four are back in the image queue, by the fallback moto needs, which the report names
    assert (report["dryRun"], report["moved"]) == (False, 4)
    assert (report["method"], report["methodNote"]) == ("receive-send-delete", MOVE_TASK_REFUSED)
    assert stack.dead_letters() == 0
    sqs = stack.client("sqs")
    moved = sqs.receive_message(
        QueueUrl=stack.outputs["ImageQueueUrl"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert sorted(message["Body"] for message in moved) == bodies


def test_the_human_report_lists_reasons_and_the_move(
    operator: Operator,
    stack: StackUnderTest,
    four_dead_letters: dict[str, tuple[list[str], str | None, str | None]],
) -> None:
    result = operator.run("redrive")

    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "the result key would pass S3's limit (from the message's labelbatch-failure attribute)" in text
    assert "message body is not JSON (from the message body)" in text
    assert "boom (from the function's log)" in text
    assert "unknown: neither the message nor the function's log says" in text
    assert "logged [draft].png" in text
    assert (
        "Moved 4 message(s) back to the image queue with receive, send and delete in batches of ten "
        f"({MOVE_TASK_REFUSED})."
    ) in text


def test_an_empty_dead_letter_queue_has_nothing_to_redrive(operator: Operator) -> None:
    result = operator.run("redrive")

    assert (result.exit_code, result.stdout.strip()) == (
        0,
        "The dead-letter queue is empty: nothing to redrive.",
    )
