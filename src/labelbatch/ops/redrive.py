"""`redrive`: why each dead-lettered message failed, then back to the image queue with it.

The reason comes, in this order, from the message attribute the function sets when it dead-letters a message
(`labelbatch-failure`), from the function's own reading of the body (a body that is no S3 notification), from
the function's log lines for that message ID (CloudWatch Logs), or is unknown. Messages move with SQS's
message-move task where the endpoint offers it, else by receive, send and delete in batches of ten.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Literal, TypedDict

from botocore.config import Config
from botocore.exceptions import ClientError

from analyze_image import notification
from labelbatch.ops.queues import SQS_BATCH, PeekedMessage, peek_messages, queue_arn
from labelbatch.ops.target import Stack

FAILURE_ATTRIBUTE = "labelbatch-failure"
_MOVE_TASK_POLL_SECONDS = 2
_MOVE_TASK_POLLS = 60
_MOVE_VISIBILITY_SECONDS = 60
_EMPTY_ANSWERS_TO_STOP = 2

ReasonSource = Literal["attribute", "body", "log"]
MoveMethod = Literal["message-move-task", "receive-send-delete"]


class DeadLetter(TypedDict):
    messageId: str
    sentAt: str | None
    receiveCount: int
    imageKeys: list[str]
    reason: str | None
    reasonSource: ReasonSource | None
    """attribute: labelbatch-failure; body: the body is no S3 notification; log: the function's log."""
    body: str


class RedriveReport(TypedDict):
    dryRun: bool
    messages: list[DeadLetter]
    moved: int
    method: MoveMethod | None
    methodNote: str | None
    """Why the fallback was used, or that a move task is still under way."""


def redrive(stack: Stack, *, dry_run: bool) -> RedriveReport:
    with peek_messages(stack, "DeadLetterQueueUrl") as peeked:
        messages = [_dead_letter(stack, message) for message in peeked]
    if dry_run or not messages:
        return RedriveReport(dryRun=dry_run, messages=messages, moved=0, method=None, methodNote=None)
    moved, method, note = move_dead_letters(stack)
    return RedriveReport(dryRun=False, messages=messages, moved=moved, method=method, methodNote=note)


def move_dead_letters(
    stack: Stack, sleep: Callable[[float], None] = time.sleep
) -> tuple[int, MoveMethod, str | None]:
    """Move every dead-lettered message back to the image queue: (moved, method, note)."""
    source, destination = queue_arn(stack, "DeadLetterQueueUrl"), queue_arn(stack, "ImageQueueUrl")
    # One attempt: an endpoint without the operation answers an error that retries would only repeat.
    sqs = stack.client("sqs", config=Config(retries={"total_max_attempts": 1}))
    try:
        handle = sqs.start_message_move_task(SourceArn=source, DestinationArn=destination)["TaskHandle"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        reason = error.get("Code") or f"HTTP {status}"
        moved = _receive_send_delete(stack)
        return moved, "receive-send-delete", f"the endpoint refused StartMessageMoveTask ({reason})"
    for _ in range(_MOVE_TASK_POLLS):
        tasks = stack.client("sqs").list_message_move_tasks(SourceArn=source, MaxResults=10)["Results"]
        task = next((task for task in tasks if task.get("TaskHandle") == handle), tasks[0] if tasks else None)
        if task is not None and task.get("Status") in {"COMPLETED", "FAILED", "CANCELLED"}:
            note = (
                None
                if task["Status"] == "COMPLETED"
                else f"the move task ended {task['Status']}: {task.get('FailureReason')}"
            )
            return int(task.get("ApproximateNumberOfMessagesMoved", 0)), "message-move-task", note
        sleep(_MOVE_TASK_POLL_SECONDS)
    return (
        0,
        "message-move-task",
        f"the move task {handle} is still running: `labelbatch status` shows the counts",
    )


def _receive_send_delete(stack: Stack) -> int:
    """Each message sent to the image queue (body and attributes), then deleted from the dead-letter queue."""
    sqs = stack.client("sqs")
    source, destination = stack.outputs["DeadLetterQueueUrl"], stack.outputs["ImageQueueUrl"]
    moved = empty_answers = 0
    while empty_answers < _EMPTY_ANSWERS_TO_STOP:
        received = sqs.receive_message(
            QueueUrl=source,
            MaxNumberOfMessages=SQS_BATCH,
            VisibilityTimeout=_MOVE_VISIBILITY_SECONDS,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        empty_answers = 0 if received else empty_answers + 1
        if not received:
            continue
        sent = sqs.send_message_batch(
            QueueUrl=destination,
            Entries=[
                {
                    "Id": str(index),
                    "MessageBody": message["Body"],
                    "MessageAttributes": message.get("MessageAttributes", {}),
                }
                for index, message in enumerate(received)
            ],
        ).get("Successful", [])
        # Only what reached the image queue leaves the dead-letter queue.
        delivered = [received[int(entry["Id"])] for entry in sent]
        if delivered:
            sqs.delete_message_batch(
                QueueUrl=source,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(delivered)
                ],
            )
        moved += len(delivered)
    return moved


def _dead_letter(stack: Stack, message: PeekedMessage) -> DeadLetter:
    keys: list[str] = []
    reason: str | None = message.attributes.get(FAILURE_ATTRIBUTE)
    source: ReasonSource | None = "attribute" if reason else None
    try:
        events = notification.parse_notification(
            message.body, expected_bucket=stack.outputs["ImageBucketName"]
        )
        keys = [event.key for event in events]
    except notification.InvalidNotificationError as exc:
        if reason is None:
            reason, source = str(exc), "body"
    if reason is None:
        reason = _logged_reason(stack, message.message_id)
        source = "log" if reason else None
    return DeadLetter(
        messageId=message.message_id,
        sentAt=message.sent_at,
        receiveCount=message.receive_count,
        imageKeys=keys,
        reason=reason,
        reasonSource=source,
        body=message.body,
    )


def function_log_group(stack: Stack) -> str:
    """Where the analysis function logs: its LoggingConfig's group, else Lambda's default."""
    name = stack.outputs["AnalyzeImageFunctionName"]
    configuration = stack.client("lambda").get_function_configuration(FunctionName=name)
    return str(configuration.get("LoggingConfig", {}).get("LogGroup") or f"/aws/lambda/{name}")


def _logged_reason(stack: Stack, message_id: str) -> str | None:
    """The last reason the function logged for this message ID (its "message failed" lines carry one)."""
    logs = stack.client("logs")
    try:
        events = logs.filter_log_events(
            logGroupName=function_log_group(stack), filterPattern=f'"{message_id}"', limit=100
        ).get("events", [])
    except logs.exceptions.ResourceNotFoundException:
        return None
    reasons = []
    for event in events:
        try:
            line: Any = json.loads(event["message"])
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("reason"):
            reasons.append(str(line["reason"]))
    return reasons[-1] if reasons else None
