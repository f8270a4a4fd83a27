"""Faults around the model and the runs: failed and endless starts, an operator's stop, overlapping and
aborted runs, a model nobody's run started, uploads during a drain, a poison message against MaxRunMinutes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from reliability.harness import (
    FAST_MODEL,
    RecordRow,
    StartScenario,
    Unusable,
    check_invariants,
    dead_lettered,
)
from reliability.inputs import sample_bodies

# The reaper, invoked in-process, emits no metric when it leaves the model alone; Powertools warns about it.


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    directory: Path = tmp_path_factory.mktemp("samples")
    return sample_bodies(directory, 12)


def test_a_model_start_that_fails_once_is_made_up_by_the_next_run(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given four images waiting and a model whose next start ends in FAILED
    scenario = start_scenario(emulator=replace(FAST_MODEL, fail_next_start=True))
    scenario.upload_many(samples[:4])

    # When the schedule starts a run, and then the next one
    first = scenario.run(status="FAILED", error="ModelStartFailed")
    second = scenario.run(status="SUCCEEDED", outcome="processed")

    # Then the first run failed, quoting the FAILED model, before answering anything; the second answered all
    assert first.execution.cause is not None
    assert '"Status":"FAILED"' in first.execution.cause.replace(" ", "")
    assert first.results_after == frozenset()
    assert second.execution.output is not None
    assert second.execution.output["backlogAtStart"] == 4
    assert scenario.stack.model_usage()["startCalls"] == 2
    record(check_invariants(scenario, reaper="leaves alone"))


def test_a_model_start_that_never_completes_times_out_and_is_stopped(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given three images waiting and a model that stays STARTING, with a one-minute start timeout
    scenario = start_scenario(
        emulator=replace(FAST_MODEL, start_seconds=3600), parameters={"ModelStartTimeoutMinutes": "1"}
    )
    scenario.upload_many(samples[:3])

    # When a run starts the model and waits for it
    first = scenario.run(status="FAILED", error="ModelStartTimedOut")

    # Then it gave up after the timeout and stopped the model it had started, which never ran
    assert "Stop Model" in first.execution.entered
    assert first.running_seconds == 0
    # And once starts work again, the next run answers the backlog
    scenario.set_model(start_seconds=1)
    scenario.run(status="SUCCEEDED", outcome="processed")
    record(check_invariants(scenario, reaper="leaves alone"))


def test_a_model_stopped_by_an_operator_mid_drain_fails_the_run_and_loses_nothing(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given twelve images and slow analysis, paced at two calls a second (two invocations), so that the drain
    # takes about six seconds and a stop after two results always lands mid-drain, however loaded the machine
    # (at the default five a second, all twelve were answered before the stop once); images whose analysis
    # fails come back after the default RetryDelaySeconds (10 s), not after the queue's 360 s
    scenario = start_scenario(
        emulator=replace(FAST_MODEL, latency_ms=300), parameters={"TpsPerInferenceUnit": "2"}
    )
    scenario.upload_many(samples)

    # When an operator stops the model once the run has answered two images
    pending = scenario.start_run()
    scenario.wait_until("two results", lambda: scenario.results_so_far() >= 2)
    scenario.emulator().stop_as_operator()
    first = scenario.finish_run(pending, status="FAILED", error="ModelStoppedDuringRun")

    # Then that run failed after switching the consumer off, with images still unanswered
    assert len(first.results_after) < len(scenario.expected)
    # And once the images the stop failed in flight are back from their retry delay (all twelve may be in
    # flight when the model stops), the next run starts the model again and answers the rest
    scenario.wait_until("the failed images to wait again", lambda: scenario.stack.retrying() == 0)
    scenario.run(status="SUCCEEDED", outcome="processed")
    record(check_invariants(scenario, reaper="leaves alone"))


def test_a_run_started_while_another_runs_skips_and_touches_nothing(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given a run that is starting the model for four images
    scenario = start_scenario(emulator=replace(FAST_MODEL, start_seconds=3))
    scenario.upload_many(samples[:4])
    first = scenario.start_run()
    scenario.wait_until("the model to start", lambda: scenario.stack.model_status() == "STARTING")

    # When the schedule fires again while it runs
    second = scenario.run(status="SUCCEEDED", outcome="skipped-overlap")

    # Then the second run ended at once, having only tried the run lock; the first answered everything alone
    assert second.execution.output is not None
    assert second.execution.output["backlogAtStart"] is None
    scenario.finish_run(first, status="SUCCEEDED", outcome="processed")
    assert scenario.stack.model_usage()["startCalls"] == 1
    record(check_invariants(scenario, reaper="leaves alone"))


def test_a_run_stopped_from_outside_is_cleaned_up_by_the_reaper(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given a run draining ten images with the model it started
    scenario = start_scenario(emulator=replace(FAST_MODEL, latency_ms=200))
    scenario.upload_many(samples[:10])
    pending = scenario.start_run()
    scenario.wait_until("the first result", lambda: scenario.results_so_far() >= 1)

    # When someone stops its execution (StopExecution): no cleanup can run
    aborted = scenario.abort(pending)

    # Then the consumer is left on, the model running and the marker naming the dead run
    assert (aborted.consumer_after, aborted.model_after) == ("Enabled", "RUNNING")
    assert scenario.stack.marker() == pending.arn
    # And once the orphaned consumer has drained the queue, the reaper's next tick stops the model
    scenario.wait_until("the queue to drain", lambda: scenario.stack.queue_backlog() == 0)
    record(check_invariants(scenario, reaper="reaps"))


def test_a_run_stopped_from_outside_while_the_model_starts_is_made_up_by_the_next_run(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given a run starting the model for three images (the model takes 3 s to start)
    scenario = start_scenario(emulator=replace(FAST_MODEL, start_seconds=3))
    scenario.upload_many(samples[:3])
    pending = scenario.start_run()
    scenario.wait_until("the model to start", lambda: scenario.stack.model_status() == "STARTING")

    # When its execution is stopped before it switched the consumer on
    aborted = scenario.abort(pending)
    scenario.wait_until("the model to run", lambda: scenario.stack.model_status() == "RUNNING")

    # Then the model runs with nothing draining the queue, and the reaper leaves it to the next run because
    # images wait (it stops a model only once the queue is empty); it gives back the dead run's lock
    assert aborted.consumer_after == "Disabled"
    assert scenario.invoke_reaper() == {"action": "none", "reason": "images-waiting"}
    # And the next run uses the model (the marker names the dead run), answers the images and stops it
    run = scenario.run(status="SUCCEEDED", outcome="processed")
    assert "Mark Model Started By Run" not in run.execution.entered
    assert "Stop Model" in run.execution.entered
    output = run.execution.output
    assert output is not None
    assert (output["modelStartedByRun"], output["modelStoppedByRun"]) == (False, True)
    assert scenario.stack.model_usage()["startCalls"] == 1
    record(check_invariants(scenario, reaper="leaves alone"))


def test_the_reaper_leaves_alone_a_model_no_run_started(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given a model an operator started, and two images
    scenario = start_scenario()
    scenario.stack.start_model_as_operator()
    scenario.upload_many(samples[:2])

    # When a run uses that model
    run = scenario.run(status="SUCCEEDED", outcome="processed")

    # Then the run neither started nor stopped it, and never claimed it with the marker
    output = run.execution.output
    assert output is not None
    assert (output["modelStartedByRun"], output["modelStoppedByRun"]) == (False, False)
    assert run.model_after == "RUNNING"
    assert scenario.stack.marker() == "none"
    # And the reaper leaves the running model alone
    record(check_invariants(scenario, reaper="leaves alone"))


def test_the_reaper_leaves_alone_a_model_started_by_hand_after_a_dead_runs_start_failed(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given a run stopped from outside while it starts the model for two images, a start that then fails
    scenario = start_scenario(emulator=replace(FAST_MODEL, start_seconds=3, fail_next_start=True))
    scenario.upload_many(samples[:2])
    pending = scenario.start_run()
    scenario.wait_until("the model to start", lambda: scenario.stack.model_status() == "STARTING")
    scenario.abort(pending)
    scenario.wait_until("the start to fail", lambda: scenario.stack.model_status() == "FAILED")

    # When the reaper runs, then an operator starts the model for work of their own
    first_tick = scenario.invoke_reaper()
    scenario.start_model_as_operator()

    # Then the reaper cleared the dead run's marker without acting on the model...
    assert first_tick == {"action": "none", "reason": "stale-marker-cleared"}
    assert scenario.stack.marker() == "none"
    # ...so that the next run uses the operator's model without claiming it, and leaves it running
    run = scenario.run(status="SUCCEEDED", outcome="processed")
    output = run.execution.output
    assert output is not None
    assert (output["modelStartedByRun"], output["modelStoppedByRun"]) == (False, False)
    assert run.model_after == "RUNNING"
    # And the reaper, on its schedule, leaves that model alone (it stopped it before the marker was cleared)
    record(check_invariants(scenario, reaper="leaves alone"))


def test_images_uploaded_while_a_run_drains_are_answered_in_that_run(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given a run started for a first wave of six images, with slow analysis
    scenario = start_scenario(emulator=replace(FAST_MODEL, latency_ms=200))
    scenario.upload_many((f"first/{name}", body) for name, body in samples[:6])
    pending = scenario.start_run()

    # When a second wave arrives while the run drains
    scenario.wait_until("the first result", lambda: scenario.results_so_far() >= 1)
    scenario.upload_many((f"second/{name}", body) for name, body in samples[6:])
    run = scenario.finish_run(pending, status="SUCCEEDED", outcome="processed")

    # Then that one run answered both waves, having counted only the first at its start
    assert run.execution.output is not None
    assert run.execution.output["backlogAtStart"] == 6
    assert run.results_after == {scenario.stack.expected_result_key(key) for key in scenario.expected}
    record(check_invariants(scenario, reaper="leaves alone"))


def test_a_poison_message_is_dead_lettered_at_once_and_keeps_no_model_running(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given three images and a message no retry can fix (not JSON), and MaxRunMinutes 1
    scenario = start_scenario(parameters={"MaxRunMinutes": "1"}, function_log_level="INFO")
    scenario.upload_many(samples[:3])
    scenario.send(
        Unusable("this is not an S3 event notification", "dead-lettered", "message body is not JSON")
    )

    # When a run drains the queue
    run = scenario.run(status="SUCCEEDED", outcome="processed")

    # Then the images were answered and the poison message went to the dead-letter queue on its first
    # delivery, so the run ended as soon as the images were answered (invariant 3 bounds its model time)
    assert run.results_after == {scenario.stack.expected_result_key(key) for key in scenario.expected}
    assert scenario.stack.dead_letters() == 1
    record(check_invariants(scenario, reaper="leaves alone"))


def test_an_image_that_keeps_failing_is_left_to_later_runs_then_dead_lettered(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given two images and a third whose every analysis fails for a reason outside it (the model answers it
    # 5xx), with retries 5, 10, 20 and 40 s apart
    scenario = start_scenario(
        emulator=replace(FAST_MODEL, failing_key="keeps-failing"),
        parameters={"RetryDelaySeconds": "5"},
        function_log_level="INFO",
    )
    scenario.upload_many(samples[:2])
    failing = scenario.upload("keeps-failing.png", samples[2][1], dead_lettered())

    # When a run drains the queue
    first = scenario.run(status="SUCCEEDED", outcome="processed")

    # Then it answered the two images and ended after the third's first failure, leaving its retry to a later
    # run instead of keeping the model running through the retry delay
    assert len(first.results_after) == 2
    assert first.waiting_after + first.retrying_after == 1
    assert [line["attempt"] for line in scenario.log.with_message("message failed")] == [1]
    # And the runs that came after each tried it once more, until its fifth attempt dead-lettered it
    scenario.run_retries()
    assert len(scenario.runs) == 5
    reasons = [line["reason"] for line in scenario.log.with_message("message failed")]
    assert len(reasons) == 5
    assert all(
        f"InternalServerError for s3://{scenario.stack.bucket}/{failing}" in reason for reason in reasons
    )
    record(check_invariants(scenario, reaper="leaves alone"))


def test_two_runs_started_at_the_same_instant_let_one_work_and_neither_fail(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given four images waiting
    scenario = start_scenario()
    scenario.upload_many(samples[:4])

    # When two runs start at the same instant, as a schedule retry and a manual run might (ListExecutions
    # could not tell them apart: each would see none or both, eventually consistent)
    pending = [scenario.start_run(), scenario.start_run()]
    runs = [scenario.finish_run(run, status="SUCCEEDED", outcome=None) for run in pending]

    # Then the run lock let exactly one start the model and answer the images; the other skipped, touching
    # nothing: neither failed, one start, one stop
    outcomes = sorted((run.execution.output or {}).get("outcome", "") for run in runs)
    assert outcomes == ["processed", "skipped-overlap"]
    for run in runs:
        run.expected_outcome = (run.execution.output or {}).get("outcome")
    usage = scenario.stack.model_usage()
    assert (usage["startCalls"], usage["stopCalls"]) == (1, 1)
    record(check_invariants(scenario, reaper="leaves alone"))


def test_the_reaper_never_stops_a_model_a_live_run_uses(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given a run that answered its two images but, polling every 30 s, has not yet noticed: its model runs,
    # its marker is set and the queue is empty, everything the reaper looks for in an abandoned model
    scenario = start_scenario(parameters={"PollIntervalSeconds": "30"})
    scenario.upload_many(samples[:2])
    pending = scenario.start_run()
    scenario.wait_until("both results", lambda: scenario.results_so_far() == 2, timeout=180)

    # When the reaper ticks in that moment
    tick = scenario.invoke_reaper()

    # Then it saw the run lock held by a live run and left the model alone
    assert tick == {"action": "none", "reason": "run-in-progress"}
    assert scenario.stack.model_status() == "RUNNING"
    # And the run ended by itself and stopped its model
    scenario.finish_run(pending, status="SUCCEEDED", outcome="processed")
    record(check_invariants(scenario, reaper="leaves alone"))
