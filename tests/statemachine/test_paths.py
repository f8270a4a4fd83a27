"""Each path through the batch-run state machine, on the local stack through the real template and definition.

A test is named after its path. It checks the execution's status (and error for failures), the states
entered in order, and what the run leaves behind: the consumer off, a model this run started stopped, and
the start marker back to "none".
"""

from __future__ import annotations

import re

import pytest

from e2e.stack_helpers import FAST_MODEL, Execution, StackUnderTest, StartLocalStack
from labelbatch.images import SampleImage, generate_sample_images

pytestmark = pytest.mark.statemachine

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


GUARD = states("Load Settings", "Find Running Runs", "Another Run In Progress?")
BACKLOG_FOUND = states(
    "Count Backlog", "Any Images Waiting?", "Read Start Marker", "Started By An Earlier Run?"
)
START_MODEL = states(
    "Describe Model",
    "Model Status?",
    "Mark Model Started By Run",
    "Own Model",
    "Auto-Scaling Configured?",
    "Start Model",
)
WAIT_FOR_MODEL = one_or_more(
    states("Start Time Left?", "Wait For Model", "Tick Start Clock", "Describe Model", "Model Status?")
)
ENABLE_CONSUMER = states(
    "Record Model Running", "Touch Consumer", "Enable Consumer", "Check Consumer Enabled", "Consumer Enabled?"
)
DRAIN_READING = states(
    "Wait While Draining",
    "Count Remaining Images",
    "Check Model While Draining",
    "Model Still Running?",
    "Queue Empty?",
)
# Readings until two empty ones in a row.
DRAIN = (
    one_or_more(
        DRAIN_READING,
        either(states("Reset Empty Readings"), states("Count Empty Reading", "Drained?")),
        states("Run Time Left?"),
    )
    + DRAIN_READING
    + states("Count Empty Reading", "Drained?")
)
DISABLE_CONSUMER = states(
    "Disable Consumer",
    "Reset Consumer Checks",
    "Check Consumer Disabled",
    "Consumer Disabled?",
    "Count In-Flight Images",
    "Images In Flight?",
    "Stop Model?",
)
STOP_MODEL = states("Stop Model", "Clear Start Marker")
SUMMARY = states("Summarize Run")


def clean_up(*, consumer_on: bool, model_stopped: bool) -> str:
    """The cleanup every fault goes through, ending in Run Failed: it disables the consumer only if the run
    switched it on, and stops the model only if the run owns it and it is running or starting."""
    return states(
        "Clean Up: Consumer Touched?",
        *(["Clean Up: Disable Consumer"] if consumer_on else []),
        "Clean Up: Model Owned?",
        "Clean Up: Describe Model",
        "Clean Up: Model Needs Stopping?",
        *(["Clean Up: Stop Model"] if model_stopped else []),
        "Clean Up: Clear Start Marker",
        "Run Failed",
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
        BACKLOG_FOUND,
        START_MODEL,
        WAIT_FOR_MODEL,
        ENABLE_CONSUMER,
        DRAIN,
        DISABLE_CONSUMER,
        STOP_MODEL,
        SUMMARY,
    )
    assert run.output is not None
    assert run.output["outcome"] == "processed"
    assert run.output["backlogAtStart"] == 2
    assert (run.output["modelStartedByRun"], run.output["modelStoppedByRun"]) == (True, True)
    assert len(stack.result_documents()) == 2
    assert_clean_stop(stack)
    assert (stack.model_usage()["startCalls"], stack.model_usage()["stopCalls"]) == (1, 1)


def test_QueueEmpty(stack: StackUnderTest) -> None:
    # Given no image waiting
    # When a run goes from start to end
    run = stack.run_to_end()

    # Then it counted the backlog and ended, touching neither the model nor the consumer
    assert run.status == "SUCCEEDED"
    assert_path(run, GUARD, states("Count Backlog", "Any Images Waiting?", "Nothing To Do"))
    assert run.task_resources == ["aws-sdk:sfn:listExecutions", "aws-sdk:sqs:getQueueAttributes"]
    assert run.output is not None
    assert {key: value for key, value in run.output.items() if key != "finishedAt"} == {
        "outcome": "nothing-to-do",
        "backlogAtStart": 0,
        "modelStartedByRun": False,
        "modelStoppedByRun": False,
        "modelRunningSince": None,
    }
    assert stack.model_usage()["startCalls"] == 0
    assert stack.consumer_state() == "Disabled"
    assert stack.marker() == "none"


def test_OverlappingRunSkipped(stack: StackUnderTest, images: list[SampleImage]) -> None:
    # Given an image waiting and a run in progress
    stack.upload_samples(images[:1])
    first_arn = stack.start_run()

    # When a second run starts while the first is still running
    second_arn = stack.start_run()
    second = stack.wait(second_arn)
    first = stack.wait(first_arn)

    # Then the second run saw the first, skipped, and touched nothing
    assert second.status == "SUCCEEDED"
    assert_path(second, GUARD, states("Skip Overlapping Run"))
    assert second.task_resources == ["aws-sdk:sfn:listExecutions"]
    assert second.output is not None
    assert {key: value for key, value in second.output.items() if key != "finishedAt"} == {
        "outcome": "skipped-overlap",
        "backlogAtStart": None,
        "modelStartedByRun": False,
        "modelStoppedByRun": False,
        "modelRunningSince": None,
    }
    # And the first run did the work alone: one start, one stop, one result
    assert first.status == "SUCCEEDED"
    assert first.output is not None
    assert first.output["outcome"] == "processed"
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
        BACKLOG_FOUND,
        states("Describe Model", "Model Status?"),
        ENABLE_CONSUMER,
        DRAIN,
        DISABLE_CONSUMER,
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

    # Then it adopted the model, used it, and stopped it
    assert run.status == "SUCCEEDED"
    assert_path(
        run,
        GUARD,
        BACKLOG_FOUND,
        states("Adopt Model", "Describe Model", "Model Status?"),
        ENABLE_CONSUMER,
        DRAIN,
        DISABLE_CONSUMER,
        STOP_MODEL,
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
        BACKLOG_FOUND,
        START_MODEL,
        WAIT_FOR_MODEL,
        states("Model Start Failed"),
        clean_up(consumer_on=False, model_stopped=False),
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
        BACKLOG_FOUND,
        START_MODEL,
        WAIT_FOR_MODEL,
        ENABLE_CONSUMER,
        zero_or_more(DRAIN_READING, states("Reset Empty Readings", "Run Time Left?")),
        states(
            "Wait While Draining",
            "Count Remaining Images",
            "Check Model While Draining",
            "Model Still Running?",
            "Model Stopped During Run",
        ),
        clean_up(consumer_on=True, model_stopped=False),
    )
    assert_clean_stop(stack)
    assert stack.model_usage()["stopCalls"] == 1
    # And the image stays queued for the next run
    assert stack.queue_backlog() == 1
    assert stack.dead_letters() == 0


def test_RunTimesOut(start_local_stack: StartLocalStack, images: list[SampleImage]) -> None:
    # Given an image that never drains (every model call throttled) and a one-minute run limit
    stack = start_local_stack(
        emulator=FAST_MODEL.with_changes({"throttle_fraction": 1.0}), parameters={"MaxRunMinutes": "1"}
    )
    stack.upload_samples(images[:1])

    # When a run goes from start to end (about 30 polls of one second, each counted as two)
    run = stack.run_to_end()

    # Then it failed with RunTimedOut after turning the consumer off, stopping the model, clearing the marker
    assert (run.status, run.error) == ("FAILED", "RunTimedOut")
    assert run.cause == "timed-out: 1 images still queued after 60 seconds of draining (MaxRunMinutes 1)"
    assert_path(
        run,
        GUARD,
        BACKLOG_FOUND,
        START_MODEL,
        WAIT_FOR_MODEL,
        ENABLE_CONSUMER,
        one_or_more(DRAIN_READING, states("Reset Empty Readings", "Run Time Left?")),
        states("Run Timed Out"),
        clean_up(consumer_on=True, model_stopped=True),
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
        BACKLOG_FOUND,
        START_MODEL,
        WAIT_FOR_MODEL,
        states(
            "Start Time Left?",
            "Model Start Timed Out",
        ),
        clean_up(consumer_on=False, model_stopped=True),
    )
    assert_clean_stop(stack)
    assert stack.model_usage()["stopCalls"] == 1
    assert stack.queue_backlog() == 1
