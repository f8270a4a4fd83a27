"""`backfill`: queue the images that have no result (uploaded before the deploy, or whose messages expired or
were purged) as S3 would have announced them, never one that has a result or a message already.

Messages waiting in either queue are read to learn their keys; each read counts as one receive of the
message. In-flight and delayed messages cannot be read, so while there are any (a run is processing, or
failed images wait for their retry) backfill refuses instead of guessing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from analyze_image import notification, result
from labelbatch.ops.errors import OperationFailedError
from labelbatch.ops.queues import PeekedMessage, peek_messages, queue_counts, s3_notification, send_batches
from labelbatch.ops.target import Stack

# Says where a message came from; the function ignores message attributes it does not know.
ORIGIN_ATTRIBUTE = "labelbatch-origin"


class BackfillReport(TypedDict):
    prefix: str
    dryRun: bool
    images: int
    """Objects under the prefix (folder markers aside)."""
    withResult: int
    waiting: int
    """Without a result, but a message for them waits in the image queue."""
    deadLettered: int
    """Without a result, their message in the dead-letter queue: `labelbatch redrive` handles those."""
    noResultPossible: list[str]
    """Keys whose result key would pass S3's 1,024-byte limit: the function cannot write their result."""
    toEnqueue: list[str]
    enqueued: int


def backfill(stack: Stack, *, prefix: str | None, dry_run: bool, now: datetime) -> BackfillReport:
    outputs = stack.outputs
    bucket, input_prefix, results_prefix = (
        outputs["ImageBucketName"],
        outputs["InputPrefix"],
        outputs["ResultsPrefix"],
    )
    scope = _scope(prefix, input_prefix)
    counts, dead_counts = queue_counts(stack), queue_counts(stack, "DeadLetterQueueUrl")
    hidden = counts["inFlight"] + counts["delayed"] + dead_counts["inFlight"] + dead_counts["delayed"]
    if hidden:
        raise OperationFailedError(
            f"{hidden} message{'s are' if hidden != 1 else ' is'} in flight or delayed for a retry, and "
            "backfill cannot read those to know which images already wait: try again when no run is "
            "processing (`labelbatch status` shows the queue)."
        )
    images = _latest_versions(stack, bucket, scope)
    existing_results = _keys(stack, bucket, results_prefix)
    with_result, without_result, impossible = 0, [], []
    for key in images:
        try:
            expected = result.result_key(key, input_prefix=input_prefix, results_prefix=results_prefix)
        except result.ResultKeyTooLongError:
            impossible.append(key)
            continue
        if expected in existing_results:
            with_result += 1
        else:
            without_result.append(key)
    waiting, dead_lettered = set(), set()
    with peek_messages(stack, "ImageQueueUrl") as queued, peek_messages(stack, "DeadLetterQueueUrl") as dead:
        waiting = _announced_keys(queued, bucket)
        dead_lettered = _announced_keys(dead, bucket)
    to_enqueue = [key for key in without_result if key not in waiting and key not in dead_lettered]
    enqueued = 0
    if to_enqueue and not dry_run:
        bodies = [
            s3_notification(
                region=stack.region,
                bucket=bucket,
                key=key,
                size=images[key]["Size"],
                e_tag=images[key]["ETag"],
                version_id=images[key].get("VersionId"),
                event_time=now,
            )
            for key in to_enqueue
        ]
        enqueued = send_batches(stack, "ImageQueueUrl", bodies, {ORIGIN_ATTRIBUTE: "backfill"})
    return BackfillReport(
        prefix=scope,
        dryRun=dry_run,
        images=len(images),
        withResult=with_result,
        waiting=sum(1 for key in without_result if key in waiting),
        deadLettered=sum(1 for key in without_result if key in dead_lettered and key not in waiting),
        noResultPossible=impossible,
        toEnqueue=to_enqueue,
        enqueued=enqueued,
    )


def _scope(prefix: str | None, input_prefix: str) -> str:
    """The key prefix to look under: InputPrefix, or a narrower one given with or without InputPrefix."""
    if not prefix:
        return input_prefix
    return prefix if prefix.startswith(input_prefix) else input_prefix + prefix


def _latest_versions(stack: Stack, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    """The current version of every object under `prefix` (the bucket is versioned), by key."""
    s3 = stack.client("s3")
    latest: dict[str, dict[str, Any]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            # A key whose latest version is a delete marker has no current version: it is gone.
            if version.get("IsLatest") and not version["Key"].endswith("/"):
                latest[version["Key"]] = version
    return latest


def _keys(stack: Stack, bucket: str, prefix: str) -> set[str]:
    s3 = stack.client("s3")
    return {
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    }


def _announced_keys(messages: list[PeekedMessage], bucket: str) -> set[str]:
    """The image keys the messages announce (as the function reads them); unreadable bodies announce none."""
    keys: set[str] = set()
    for message in messages:
        try:
            keys.update(
                event.key for event in notification.parse_notification(message.body, expected_bucket=bucket)
            )
        except notification.InvalidNotificationError:
            continue
    return keys
