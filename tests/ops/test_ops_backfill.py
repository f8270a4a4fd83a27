"""`labelbatch backfill`: queue the images that have no result, never one with a result or a message."""

from __future__ import annotations

from labelbatch.images import SampleImage
from ops.conftest import Operator
from support.stack_helpers import StackUnderTest

REPORT_KEYS = {
    "prefix",
    "dryRun",
    "images",
    "withResult",
    "waiting",
    "deadLettered",
    "noResultPossible",
    "toEnqueue",
    "enqueued",
}


def purge(stack: StackUnderTest) -> None:
    stack.client("sqs").purge_queue(QueueUrl=stack.outputs["ImageQueueUrl"])
    assert stack.queue_backlog() == 0


def test_backfill_queues_exactly_the_images_without_result_or_message(
    operator: Operator, stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given one image with a result, three whose messages were purged, and one whose message waits
    analyzed = stack.upload_samples(samples[:1])
    stack.run_to_end()
    purged = stack.upload_samples(samples[1:4])
    purge(stack)
    waiting = stack.upload_samples(samples[4:5])

    # When the operator looks first (--dry-run)
    planned = operator.json("backfill", "--dry-run")

    # Then only the three purged ones would be queued, and nothing was
    assert set(planned) == REPORT_KEYS
    assert planned == {
        "prefix": stack.input_prefix,
        "dryRun": True,
        "images": 5,
        "withResult": 1,
        "waiting": 1,
        "deadLettered": 0,
        "noResultPossible": [],
        "toEnqueue": sorted(purged),
        "enqueued": 0,
    }
    assert stack.queue_backlog() == 1

    # When the operator backfills
    done = operator.json("backfill")

    # Then the three are queued, and the next run gives every image exactly one result
    assert (done["dryRun"], done["toEnqueue"], done["enqueued"]) == (False, sorted(purged), 3)
    assert stack.queue_backlog() == 4
    execution = stack.run_to_end()
    assert execution.output is not None
    assert (execution.output["outcome"], execution.output["backlogAtStart"]) == ("processed", 4)
    documents = stack.result_documents()
    every_image = {**analyzed, **purged, **waiting}
    assert sorted(documents) == sorted(stack.expected_result_key(key) for key in every_image)
    assert {document["image"]["key"] for document in documents.values()} == set(every_image)
    assert all(document["status"] == "ok" for document in documents.values())

    # And a second backfill finds nothing left to queue
    assert operator.json("backfill")["toEnqueue"] == []


def test_backfill_skips_images_whose_message_is_dead_lettered_and_points_at_redrive(
    operator: Operator, stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given an image whose S3 notification sits in the dead-letter queue
    stack.upload_samples(samples[:1])
    sqs = stack.client("sqs")
    received = sqs.receive_message(QueueUrl=stack.outputs["ImageQueueUrl"], WaitTimeSeconds=1)["Messages"]
    sqs.send_message(QueueUrl=stack.outputs["DeadLetterQueueUrl"], MessageBody=received[0]["Body"])
    sqs.delete_message(QueueUrl=stack.outputs["ImageQueueUrl"], ReceiptHandle=received[0]["ReceiptHandle"])

    # When the operator backfills
    report = operator.json("backfill")
    human = operator.run("backfill", "--dry-run")

    # Then that image is counted as dead-lettered and not queued again
    assert (report["images"], report["deadLettered"], report["toEnqueue"], report["enqueued"]) == (
        1,
        1,
        [],
        0,
    )
    assert stack.queue_backlog() == 0
    assert stack.dead_letters() == 1
    lines = [line.strip() for line in human.stdout.splitlines()]
    in_dead_letters = [line.split()[-1] for line in lines if line.startswith("In the dead-letter queue")]
    assert in_dead_letters == ["1"]


def test_backfill_looks_only_under_the_prefix_given(
    operator: Operator, stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given purged images in two folders
    stack.upload_samples(samples[:2], folder="2024/")
    stack.upload_samples(samples[2:3], folder="2025/")
    purge(stack)

    # When the operator backfills one folder, named without and then with InputPrefix
    relative = operator.json("backfill", "--dry-run", "--prefix", "2025/")
    absolute = operator.json("backfill", "--dry-run", "--prefix", f"{stack.input_prefix}2025/")

    # Then only that folder's image is concerned
    expected = [f"{stack.input_prefix}2025/{samples[2].path.name}"]
    assert relative["prefix"] == absolute["prefix"] == f"{stack.input_prefix}2025/"
    assert relative["toEnqueue"] == absolute["toEnqueue"] == expected
    assert relative["images"] == 1


def test_backfill_refuses_while_messages_it_cannot_read_are_in_the_queue(
    operator: Operator, stack: StackUnderTest
) -> None:
    # Given a message delayed for a retry (invisible to any reader for a minute)
    stack.client("sqs").send_message(
        QueueUrl=stack.outputs["ImageQueueUrl"], MessageBody="{}", DelaySeconds=60
    )

    # When the operator backfills
    result = operator.run("backfill")

    # Then it refuses, says why and when to try again, and queues nothing
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "error: 1 message is in flight or delayed for a retry, and backfill cannot read those to know which "
        "images already wait: try again when no run is processing (`labelbatch status` shows the queue).\n"
    )
    assert stack.queue_backlog() == 1
