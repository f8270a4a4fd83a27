"""Each path through the batch-run state machine, on the local stack through the real template and definition.

A test is named after its path. It checks the execution's status (and error for failures), the states
entered in order, and what the run leaves behind: the consumer off, a model this run started stopped, and
the start marker back to "none".
"""

from __future__ import annotations

import re
from typing import Literal

import pytest

from labelbatch.images import SampleImage, generate_sample_images
from labelbatch.local.moto_shims import MappingSwitch
from labelbatch.planning.batch_run import Transitions
from support.stack_helpers import FAST_MODEL, Execution, StackUnderTest, StartLocalStack

STOPPED_OR_STOPPING = {"STOPPING", "STOPPED"}
# The template's minimum for ModelStartTimeoutMinutes.
MODEL_START_TIMEOUT_MINUTES = 1


# -- the path, as a pattern over the states entered ---------------------------------------------------------


def states(*names: str) -> str:
    return "".join(re.escape(name) + "\n" for name in names)


def one_or_more(*parts: str) -> str:
    return "(?:" + "".join(parts) + ")+"


def zero_or_more(*parts: str) -> str:
    return "(?:" + "".join(parts) + ")*"


def either(*parts: str) -> str:
    return "(?:" + "|".join(parts) + ")"


def assert_path(run: Execution, *parts: str) -> None:
    entered = "".join(name + "\n" for name in run.entered)
    assert re.fullmatch("".join(parts), entered), "states entered:\n" + entered


GUARD = states("Load Settings", "Acquire Run Lock", "Process Waiting Images")
READ_BACKLOG = states("Count Backlog", "Any Images Waiting?")
# At most ten messages waiting: they are looked at once, and S3's test events among them removed.
LOOK_FOR_TEST_EVENTS = (
    states("Look For Test Events", "Any Images Waiting?", "Remove Test Events")
    + zero_or_more(either(states("Test Event?"), states("Delete Test Event"), states("Not A Test Event")))
    + READ_BACKLOG
)
OBSERVE = states("Check Model", "Check Consumer", "What Next?")
POLL = states("Wait For Next Poll") + READ_BACKLOG + OBSERVE
START_MODEL = states("Mark Model Started By Run", "Start Model")
ENABLE_CONSUMER = states("Record Model Running", "Enable Consumer")
DRAINED = states("Batch Done")
SUMMARY = states("Summarize Run")
FAILURE = states("Run Failed")
# What the cost model charges each step of a run (src/labelbatch/planning/batch_run.py).
TRANSITIONS = Transitions()


def switch_off(
    model: Literal["stopped", "marker cleared", "stopped by someone else", "stop refused", "not ours"],
) -> str:
    """What every run that did anything goes through, failed or not: the model stopped first if a run of the
    stack started it (only its marker cleared if it is at rest already, or if someone else's stop landed
    first and the run's was refused; asked again every 30 s while it refuses, up to the start timeout), then
    the consumer switched off, then the lock released."""
    asked_again = states("Check Model Before Stopping", "Stop Model?", "Wait To Stop Again")
    model_steps = {
        "stopped": states("Stop Model", "Clear Start Marker"),
        "marker cleared": states("Clear Start Marker"),
        "stopped by someone else": states(
            "Stop Model", "Check Model Before Stopping", "Stop Model?", "Clear Start Marker"
        ),
        "stop refused": states("Stop Model")
        + one_or_more(asked_again, states("Stop Model"))
        + states("Check Model Before Stopping", "Stop Model?", "Stop Refused Too Long"),
        "not ours": "",
    }[model]
    return (
        states("Anything To Switch Off?", "Read Start Marker", "Check Model Before Stopping", "Stop Model?")
        + model_steps
        + states("Disable Consumer")
        + one_or_more(states("Wait For Consumer To Stop", "Check Consumer Stopped", "Consumer Stopped?"))
        + states("Release Run Lock", "Run Failed?")
    )


# -- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[SampleImage]:
    return generate_sample_images(tmp_path_factory.mktemp("images"), 2)


def assert_clean_stop(stack: StackUnderTest) -> None:
    """What a run that started (or adopted) the model leaves behind: nothing running, nothing owned."""
    assert stack.consumer_state() == "Disabled"
    assert stack.model_status() in STOPPED_OR_STOPPING
    assert stack.marker() == "none"


# -- successful paths ---------------------------------------------------------------------------------------


def test_HappyPath(stack: StackUnderTest, images: list[SampleImage]) -> None:
    # Given two images waiting and the model stopped
    stack.upload_samples(images)

    # When a run goes from start to end
    run = stack.run_to_end()

    # Then it started the model, drained the queue through the consumer, and switched both off again
    assert run.status == "SUCCEEDED"
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        LOOK_FOR_TEST_EVENTS,
        OBSERVE,
        START_MODEL,
        one_or_more(POLL),
        ENABLE_CONSUMER,
        one_or_more(POLL),
        DRAINED,
        switch_off("stopped"),
        SUMMARY,
    )
    assert run.output is not None
    assert run.output["outcome"] == "processed"
    assert run.output["backlogAtStart"] == 2
    assert (run.output["modelStartedByRun"], run.output["modelStoppedByRun"]) == (True, True)
    # sized to the model: one invocation per call a second its unit serves (the emulator's 10)
    assert (run.output["inferenceUnits"], run.output["consumerConcurrency"]) == (1, 10)
    assert len(stack.result_documents()) == 2
    assert_clean_stop(stack)
    assert (stack.model_usage()["startCalls"], stack.model_usage()["stopCalls"]) == (1, 1)
    # and entered the states the cost model charges a run for: its fixed part and one poll per wait, the same
    # poll loop whether the model is starting or the queue draining
    waits = run.entered.count("Wait For Next Poll")
    assert TRANSITIONS.start_poll == TRANSITIONS.drain_poll
    assert len(run.entered) == TRANSITIONS.run + waits * TRANSITIONS.start_poll


def test_ModelRefusesToStop(start_local_stack: StartLocalStack, images: list[SampleImage]) -> None:
    # Given an image waiting, a model that refuses every stop, and the shortest start timeout allowed
    stack = start_local_stack(
        emulator=FAST_MODEL.with_changes({"refuse_stops": True}),
        parameters={"ModelStartTimeoutMinutes": str(MODEL_START_TIMEOUT_MINUTES)},
    )
    stack.upload_samples(images[:1])

    # When a run goes from start to end (its stop asked again every 30 s for a minute)
    run = stack.run_to_end(timeout=300)

    # Then it processed the image, switched the consumer off, and failed with ModelStopRefused, leaving its
    # marker for the model reaper
    assert (run.status, run.error) == ("FAILED", "ModelStopRefused")
    assert run.cause is not None
    assert "the model reaper stops the model later" in run.cause
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        LOOK_FOR_TEST_EVENTS,
        OBSERVE,
        START_MODEL,
        one_or_more(POLL),
        ENABLE_CONSUMER,
        one_or_more(POLL),
        DRAINED,
        switch_off("stop refused"),
        states("Switch-Off Failed"),
    )
    assert len(stack.result_documents()) == 1
    assert stack.consumer_state() == "Disabled"
    assert stack.model_status() == "RUNNING"
    assert stack.marker() == run.arn


def test_AutoScalingModel(start_local_stack: StartLocalStack, images: list[SampleImage]) -> None:
    # Given a stack with auto-scaling (MaxInferenceUnits 3) and two images waiting
    stack = start_local_stack(emulator=FAST_MODEL, parameters={"MaxInferenceUnits": "3"})
    stack.upload_samples(images)

    # When a run goes from start to end
    run = stack.run_to_end()

    # Then it started the model with both bounds and sized the consumer for the most units the model may
    # scale to, then drained and switched both off
    assert run.status == "SUCCEEDED"
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        LOOK_FOR_TEST_EVENTS,
        OBSERVE,
        START_MODEL,
        one_or_more(POLL),
        ENABLE_CONSUMER,
        one_or_more(POLL),
        DRAINED,
        switch_off("stopped"),
        SUMMARY,
    )
    assert stack.model_report()["maxInferenceUnits"] == 3
    assert run.output is not None
    assert (run.output["inferenceUnits"], run.output["consumerConcurrency"]) == (1, 30)
    assert len(stack.result_documents()) == 2
    assert_clean_stop(stack)


def test_UnitsFromBacklog(start_local_stack: StartLocalStack, images: list[SampleImage]) -> None:
    # Given a stack that sizes the model to its backlog (a 1-minute drain target at 2 calls a second per unit:
    # 120 images a unit, up to 3 units) and 121 images waiting
    stack = start_local_stack(
        emulator=FAST_MODEL,
        parameters={"DrainTargetMinutes": "1", "MaxInferenceUnits": "3", "TpsPerInferenceUnit": "2"},
    )
    image = images[0].path.read_bytes()
    for index in range(121):
        stack.upload(f"{stack.input_prefix}backlog/{index:03}{images[0].path.suffix}", image, "image/png")

    # When a run goes from start to end (more than ten waiting: no look for S3's test events)
    run = stack.run_to_end()

    # Then it started the model with two units, the fewest that drain 121 images in a minute, and its
    # auto-scaling bound, sized the consumer for that bound, and analyzed every image
    assert run.status == "SUCCEEDED"
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        OBSERVE,
        START_MODEL,
        one_or_more(POLL),
        ENABLE_CONSUMER,
        one_or_more(POLL),
        DRAINED,
        switch_off("stopped"),
        SUMMARY,
    )
    assert (stack.model_report()["minInferenceUnits"], stack.model_report()["maxInferenceUnits"]) == (2, 3)
    assert run.output is not None
    assert (run.output["inferenceUnits"], run.output["consumerConcurrency"]) == (2, 6)
    assert len(stack.result_documents()) == 121
    assert_clean_stop(stack)


def test_QueueEmpty(stack: StackUnderTest) -> None:
    # Given no image waiting
    # When a run goes from start to end
    run = stack.run_to_end()

    # Then it counted the backlog and ended, touching neither the model nor the consumer
    assert run.status == "SUCCEEDED"
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        DRAINED,
        states("Anything To Switch Off?", "Release Run Lock", "Run Failed?"),
        SUMMARY,
    )
    assert len(run.entered) == TRANSITIONS.idle_run
    assert run.task_resources == [
        "aws-sdk:dynamodb:updateItem",
        "aws-sdk:sqs:getQueueAttributes",
        "aws-sdk:dynamodb:updateItem",
    ]
    assert run.output is not None
    assert {key: value for key, value in run.output.items() if key != "finishedAt"} == {
        "outcome": "nothing-to-do",
        "backlogAtStart": 0,
        "modelStartedByRun": False,
        "modelStoppedByRun": False,
        "modelRunningSince": None,
        "inferenceUnits": None,
        "consumerConcurrency": None,
    }
    assert stack.model_usage()["startCalls"] == 0
    assert stack.consumer_state() == "Disabled"
    assert stack.marker() == "none"


def test_OverlappingRunSkipped(stack: StackUnderTest, images: list[SampleImage]) -> None:
    # Given an image waiting and a run in progress
    stack.upload_samples(images[:1])
    first_arn = stack.start_run()

    # When a second run starts at once, while the first is still running
    second_arn = stack.start_run()
    runs = [stack.wait(second_arn), stack.wait(first_arn)]

    # Then whichever took the run lock first did the work alone, and the other found the lock held (after its
    # retries), skipped, and touched nothing else
    assert sorted(run.status for run in runs) == ["SUCCEEDED", "SUCCEEDED"]
    outcomes = {run.output["outcome"]: run for run in runs if run.output is not None}
    assert sorted(outcomes) == ["processed", "skipped-overlap"]
    skipped = outcomes["skipped-overlap"]
    assert_path(skipped, states("Load Settings", "Acquire Run Lock", "Skip Overlapping Run"))
    assert set(skipped.task_resources) == {"aws-sdk:dynamodb:updateItem"}
    assert skipped.output is not None
    assert {key: value for key, value in skipped.output.items() if key != "finishedAt"} == {
        "outcome": "skipped-overlap",
        "backlogAtStart": None,
        "modelStartedByRun": False,
        "modelStoppedByRun": False,
        "modelRunningSince": None,
        "inferenceUnits": None,
        "consumerConcurrency": None,
    }
    # And one start, one stop, one result
    assert (stack.model_usage()["startCalls"], stack.model_usage()["stopCalls"]) == (1, 1)
    assert len(stack.result_documents()) == 1
    assert_clean_stop(stack)


def test_ModelAlreadyRunning(stack: StackUnderTest, images: list[SampleImage]) -> None:
    # Given a model someone else started, no marker, and an image waiting
    stack.start_model_as_operator()
    stack.upload_samples(images[:1])

    # When a run goes from start to end
    run = stack.run_to_end()

    # Then it used the running model without starting or stopping it
    assert run.status == "SUCCEEDED"
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        LOOK_FOR_TEST_EVENTS,
        OBSERVE,
        ENABLE_CONSUMER,
        one_or_more(POLL),
        DRAINED,
        switch_off("not ours"),
        SUMMARY,
    )
    assert run.output is not None
    assert (run.output["modelStartedByRun"], run.output["modelStoppedByRun"]) == (False, False)
    assert stack.model_status() == "RUNNING"
    assert (stack.model_usage()["startCalls"], stack.model_usage()["stopCalls"]) == (1, 0)
    assert stack.consumer_state() == "Disabled"
    assert stack.marker() == "none"


def test_AdoptsModelLeftByDeadRun(stack: StackUnderTest, images: list[SampleImage]) -> None:
    # Given a model left RUNNING by a run that died, its marker still set, and an image waiting
    stack.start_model_as_operator()
    state_machine_arn = stack.outputs["StateMachineArn"]
    stack.set_marker(state_machine_arn.replace(":stateMachine:", ":execution:") + ":a-run-that-died")
    stack.upload_samples(images[:1])

    # When a run goes from start to end
    run = stack.run_to_end()

    # Then it used the model and, as a run of this stack started it, stopped it
    assert run.status == "SUCCEEDED"
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        LOOK_FOR_TEST_EVENTS,
        OBSERVE,
        ENABLE_CONSUMER,
        one_or_more(POLL),
        DRAINED,
        switch_off("stopped"),
        SUMMARY,
    )
    assert run.output is not None
    assert (run.output["modelStartedByRun"], run.output["modelStoppedByRun"]) == (False, True)
    assert stack.model_usage()["stopCalls"] == 1
    assert_clean_stop(stack)


# -- failing paths ------------------------------------------------------------------------------------------


def test_ModelStartFails(start_local_stack: StartLocalStack, images: list[SampleImage]) -> None:
    # Given a model whose next start ends in FAILED, and an image waiting
    stack = start_local_stack(emulator=FAST_MODEL.with_changes({"fail_next_start": True}))
    stack.upload_samples(images[:1])

    # When a run goes from start to end
    run = stack.run_to_end()

    # Then it failed with ModelStartFailed after clearing its marker; a FAILED model needs no stop
    assert (run.status, run.error) == ("FAILED", "ModelStartFailed")
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        LOOK_FOR_TEST_EVENTS,
        OBSERVE,
        START_MODEL,
        one_or_more(POLL),
        states("Model Start Failed"),
        switch_off("marker cleared"),
        FAILURE,
    )
    assert stack.model_status() == "FAILED"
    assert stack.model_usage()["stopCalls"] == 0
    assert stack.consumer_state() == "Disabled"
    assert stack.marker() == "none"
    # And the image waits in the queue for the next run
    assert stack.queue_backlog() == 1


def test_ModelStoppedDuringDrain(start_local_stack: StartLocalStack, images: list[SampleImage]) -> None:
    # Given a run draining an image the model cannot analyze yet (every call throttled, so it stays queued)
    stack = start_local_stack(emulator=FAST_MODEL.with_changes({"throttle_fraction": 1.0}))
    stack.upload_samples(images[:1])
    execution_arn = stack.start_run()
    stack.wait_for_model("RUNNING")
    stack.wait_for_consumer("Enabled")

    # When an operator stops the model in the middle of the drain
    stack.stop_model_as_operator()
    run = stack.wait(execution_arn)

    # Then the run failed with ModelStoppedDuringRun, switched the consumer off and cleared its marker,
    # without stopping the model a second time
    assert (run.status, run.error) == ("FAILED", "ModelStoppedDuringRun")
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        LOOK_FOR_TEST_EVENTS,
        OBSERVE,
        START_MODEL,
        one_or_more(POLL),
        ENABLE_CONSUMER,
        one_or_more(POLL),
        states("Model Stopped During Run"),
        switch_off("marker cleared"),
        FAILURE,
    )
    assert_clean_stop(stack)
    assert stack.model_usage()["stopCalls"] == 1
    # And the image stays queued for the next run
    assert stack.queue_backlog() == 1
    assert stack.dead_letters() == 0


def test_ModelStoppedBySomeoneElseAsTheRunStopsIt(
    start_local_stack: StartLocalStack, images: list[SampleImage]
) -> None:
    # Given an image waiting, and someone else's stop that will land just before the run's own
    stack = start_local_stack(emulator=FAST_MODEL.with_changes({"stopped_before_next_stop": True}))
    stack.upload_samples(images[:1])

    # When a run goes from start to end
    run = stack.run_to_end()

    # Then its refused stop sent it back to read the model, which it found stopping: it cleared its marker and
    # switched the consumer off at once, instead of asking again for 20 minutes with the consumer on
    assert run.status == "SUCCEEDED"
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        LOOK_FOR_TEST_EVENTS,
        OBSERVE,
        START_MODEL,
        one_or_more(POLL),
        ENABLE_CONSUMER,
        one_or_more(POLL),
        DRAINED,
        switch_off("stopped by someone else"),
        SUMMARY,
    )
    assert run.output is not None
    assert (run.output["modelStartedByRun"], run.output["modelStoppedByRun"]) == (True, False)
    assert_clean_stop(stack)
    # one stop accepted: the other's
    assert stack.model_usage()["stopCalls"] == 1
    assert len(stack.result_documents()) == 1


def test_RunTimesOut(start_local_stack: StartLocalStack, images: list[SampleImage]) -> None:
    # Given an image that never drains (every model call throttled) and a one-minute run limit
    stack = start_local_stack(
        emulator=FAST_MODEL.with_changes({"throttle_fraction": 1.0}), parameters={"MaxRunMinutes": "1"}
    )
    stack.upload_samples(images[:1])

    # When a run goes from start to end (about 30 polls of one second, each counted as two)
    run = stack.run_to_end()

    # Then it failed with RunTimedOut; it stopped the model, cleared its marker and switched the consumer off
    assert (run.status, run.error) == ("FAILED", "RunTimedOut")
    assert run.cause == "timed-out: 1 images still waiting when MaxRunMinutes (1) ran out"
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        LOOK_FOR_TEST_EVENTS,
        OBSERVE,
        START_MODEL,
        one_or_more(POLL),
        ENABLE_CONSUMER,
        one_or_more(POLL),
        states("Run Timed Out"),
        switch_off("stopped"),
        FAILURE,
    )
    assert_clean_stop(stack)
    assert stack.model_usage()["stopCalls"] == 1
    # And the image is still queued, not dead-lettered: the next run tries again
    assert stack.queue_backlog() == 1
    assert stack.dead_letters() == 0


def test_ModelStartTimesOut(start_local_stack: StartLocalStack, images: list[SampleImage]) -> None:
    # Given a model that takes an hour to start, the shortest start timeout allowed, and an image waiting
    stack = start_local_stack(
        emulator=FAST_MODEL.with_changes({"start_seconds": 3600}),
        parameters={"ModelStartTimeoutMinutes": str(MODEL_START_TIMEOUT_MINUTES)},
    )
    stack.upload_samples(images[:1])

    # When a run goes from start to end (about 30 polls of one second, each counted as two)
    run = stack.run_to_end()

    # Then it failed with ModelStartTimedOut after stopping the model it started and clearing its marker
    assert (run.status, run.error) == ("FAILED", "ModelStartTimedOut")
    assert run.cause is not None
    assert run.cause.startswith(f"The model was not RUNNING after {MODEL_START_TIMEOUT_MINUTES * 60} seconds")
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        LOOK_FOR_TEST_EVENTS,
        OBSERVE,
        START_MODEL,
        one_or_more(POLL),
        states("Model Start Timed Out"),
        switch_off("stopped"),
        FAILURE,
    )
    assert_clean_stop(stack)
    assert stack.model_usage()["stopCalls"] == 1
    assert stack.queue_backlog() == 1


# -- what AWS does that moto does not by itself --------------------------------------------------------------


def test_TestEventOnlyAfterDeploy(start_local_stack: StartLocalStack) -> None:
    # Given a fresh deployment: S3's s3:TestEvent is the only message in the queue
    stack = start_local_stack(keep_test_event=True)
    assert stack.queue_backlog() == 1

    # When a run goes from start to end
    run = stack.run_to_end()

    # Then it looked at the message, removed the test event and found nothing to do: the model never started
    assert run.status == "SUCCEEDED"
    assert_path(
        run,
        GUARD,
        READ_BACKLOG,
        states("Look For Test Events", "Any Images Waiting?", "Remove Test Events", "Test Event?"),
        states("Delete Test Event"),
        READ_BACKLOG,
        DRAINED,
        states("Anything To Switch Off?", "Release Run Lock", "Run Failed?"),
        SUMMARY,
    )
    assert run.output is not None
    assert run.output["outcome"] == "nothing-to-do"
    assert stack.model_usage()["startCalls"] == 0
    assert stack.queue_backlog() == 0


def test_ConsumerSlowToSwitch(start_local_stack: StartLocalStack, images: list[SampleImage]) -> None:
    # Given a mapping that takes 65 s to switch on or off (AWS documents no bound; the drain waits 10 minutes)
    stack = start_local_stack(mapping_switch=MappingSwitch(transition_seconds=65))
    stack.upload_samples(images[:1])

    # When a run goes from start to end
    run = stack.run_to_end(timeout=300)

    # Then it waited for the mapping instead of stopping an unused model, drained, and waited again to stop
    assert run.status == "SUCCEEDED"
    assert run.output is not None
    assert run.output["outcome"] == "processed"
    assert len(stack.result_documents()) == 1
    assert (stack.model_usage()["startCalls"], stack.model_usage()["stopCalls"]) == (1, 1)
    assert_clean_stop(stack)


def test_ConsumerStateReadStale(start_local_stack: StartLocalStack, images: list[SampleImage]) -> None:
    # Given a mapping whose state still reads as before for 6 s after every update (a stale read): longer than
    # the first check after enabling (a poll) and the first check after disabling (5 s)
    stack = start_local_stack(mapping_switch=MappingSwitch(stale_seconds=6))
    stack.upload_samples(images[:1])

    # When a run goes from start to end
    run = stack.run_to_end()

    # Then the first poll after enabling read Disabled, the run sent the update once more, and drained
    assert run.status == "SUCCEEDED"
    assert run.entered.count("Enable Consumer") == 2
    assert len(stack.result_documents()) == 1
    # and after disabling, a first read of Enabled sent that update once more as well
    assert run.entered.count("Disable Consumer") == 2
    assert_clean_stop(stack)
