"""Faults in what reaches the queue: unusable messages, images gone before analysis, and messages delivered
twice because analysis outlasts the visibility timeout."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from reliability.harness import FAST_MODEL, RecordRow, StartScenario, Unusable, check_invariants, error
from reliability.inputs import s3_notification, sample_bodies

# The reaper, invoked in-process, emits no metric when it leaves the model alone; Powertools warns about it.


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    directory: Path = tmp_path_factory.mktemp("samples")
    return sample_bodies(directory, 3)


def test_unusable_messages_are_dead_lettered_with_their_reason_and_never_answered(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given two images, and three messages nobody should have sent to the image queue: a body that is not
    # JSON, a notification for another bucket, and one for this bucket outside InputPrefix
    scenario = start_scenario(function_log_level="INFO")
    scenario.upload_many(samples[:2])
    scenario.send(
        Unusable("this is not an S3 event notification", "dead-lettered", "message body is not JSON")
    )
    scenario.send(
        Unusable(
            s3_notification("someone-elses-bucket", "images/theirs.jpg"),
            "dead-lettered",
            "record is for bucket 'someone-elses-bucket'",
        )
    )
    # Not dead-lettered: the function acts only on InputPrefix and says why it skips the rest (issue 2).
    scenario.send(
        Unusable(
            s3_notification(scenario.stack.bucket, "elsewhere/photo.jpg"),
            "ignored",
            "outside the input prefix",
        )
    )

    # When a run drains the queue
    scenario.run(status="SUCCEEDED", outcome="processed")

    # Then the images are answered, each unusable message is dead-lettered at once with its reason logged (or
    # skipped with its reason logged), and none of them produced a result (checked with the invariants)
    record(check_invariants(scenario, reaper="leaves alone"))


def test_an_image_deleted_before_analysis_gets_an_error_result(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given three uploaded images: one deleted for good (every version) and one deleted as the console does
    # by default (a delete marker over the uploaded version) before any run
    scenario = start_scenario()
    s3 = scenario.stack.client("s3")
    gone = scenario.upload("gone for good.png", samples[0][1], error("InvalidS3ObjectException"))
    for version in s3.list_object_versions(Bucket=scenario.stack.bucket, Prefix=gone)["Versions"]:
        s3.delete_object(Bucket=scenario.stack.bucket, Key=gone, VersionId=version["VersionId"])
    # The notification names the uploaded version, which still exists under the marker: it is analyzed.
    hidden = scenario.upload("hidden by a delete marker.png", samples[1][1])
    s3.delete_object(Bucket=scenario.stack.bucket, Key=hidden)
    scenario.upload("kept.png", samples[2][1])

    # When a run drains the queue
    scenario.run(status="SUCCEEDED", outcome="processed")

    # Then the image gone for good has an error result saying it no longer exists; the others their labels,
    # the hidden one those of the version uploaded
    document = scenario.stack.result_documents()[scenario.stack.expected_result_key(gone)]
    assert "deleted before it could be analyzed" in document["error"]["message"]
    record(check_invariants(scenario, reaper="leaves alone"))


def test_a_message_delivered_twice_by_slow_analysis_keeps_one_consistent_result(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given an image whose first analysis takes 8 s (below the function's 10 s read timeout), on a queue whose
    # visibility timeout is 5 s
    scenario = start_scenario(emulator=replace(FAST_MODEL, latency_ms=8_000))
    scenario.set_visibility_timeout(5)
    key = scenario.upload(*samples[0])

    # When a run drains the queue: the message becomes visible again while the first analysis still runs,
    # and a second environment takes it (analysis is fast by then)
    usage = scenario.stack.model_usage
    pending = scenario.start_run()
    scenario.wait_until("the first analysis", lambda: usage()["detectCustomLabelsCalls"] >= 1)
    scenario.set_model(latency_ms=50)
    scenario.finish_run(pending, status="SUCCEEDED", outcome="processed")
    # The first analysis outlives the run, which ended once a later delivery was answered. (SQS delivers at
    # least once: on a loaded machine the second delivery can itself outlast 5 s and be delivered a third
    # time, possibly after the run stopped the model.)
    scenario.wait_until(
        "every analysis to end", lambda: answered_calls(usage()) == usage()["detectCustomLabelsCalls"]
    )
    analyses = usage()["successfulCalls"]
    result = scenario.stack.expected_result_key(key)
    scenario.wait_until("every analysis's write", lambda: scenario.result_versions() == {result: analyses})

    # Then the image was analyzed at least twice and its one result written once per analysis, each time with
    # the same content (checked with the invariants on every version)
    assert analyses >= 2
    record(check_invariants(scenario, reaper="leaves alone"))


def answered_calls(usage: dict[str, Any]) -> int:
    return int(usage["successfulCalls"]) + int(usage["throttledCalls"]) + int(usage["errorCalls"])
