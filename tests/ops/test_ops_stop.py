"""`labelbatch stop`: stop spending now: the consumer off, the model stopped, whoever started it."""

from __future__ import annotations

import os

from labelbatch.images import SampleImage
from ops.conftest import Operator, set_batch_run_schedule
from support.stack_helpers import StackUnderTest
from support.terminal import in_terminal, read_terminal


def test_stop_disables_the_consumer_and_stops_a_model_someone_else_started(
    operator: Operator, stack: StackUnderTest
) -> None:
    # Given a model started by hand, the consumer switched on, and the schedule enabled
    stack.start_model_as_operator()
    set_batch_run_schedule(stack, "ENABLED")
    stack.client("lambda").update_event_source_mapping(
        UUID=stack.outputs["EventSourceMappingId"], Enabled=True
    )
    stack.wait_for_consumer("Enabled")
    stops = stack.model_usage()["stopCalls"]

    # When the operator stops everything, confirmed on the command line
    report = operator.json("stop", "--yes")

    # Then both are off, and the report says what it did and what may start the model again
    assert report["consumer"] == {"before": "Enabled", "after": "Disabled", "action": "disabled"}
    assert report["model"]["before"] == "RUNNING"
    assert report["model"]["action"] == "stop requested"
    assert report["model"]["after"] in {"STOPPING", "STOPPED"}
    assert report["runInProgress"] is None
    assert report["schedule"]["state"] == "ENABLED"
    stack.wait_for_model("STOPPED")
    assert stack.consumer_state() == "Disabled"
    assert stack.model_usage()["stopCalls"] == stops + 1


def test_stop_on_a_stack_at_rest_changes_nothing_and_says_so(
    operator: Operator, stack: StackUnderTest
) -> None:
    # Given a stack at rest whose schedule is enabled
    set_batch_run_schedule(stack, "ENABLED")
    status, stops = stack.model_status(), stack.model_usage()["stopCalls"]

    # When the operator stops everything
    result = operator.run("stop", "--yes")

    # Then nothing changed, and it says what will start the model again
    assert result.exit_code == 0, result.stderr
    assert "Consumer: already Disabled (Disabled -> Disabled)." in result.stdout
    assert f"Model: already {status} ({status} -> {status})." in result.stdout
    said = " ".join(result.stdout.split())
    assert "The schedule is still ENABLED: its next run at 20" in said
    assert "starts the model again if images wait. To pause it, deploy with ScheduleState=DISABLED" in said
    assert stack.model_usage()["stopCalls"] == stops


def test_stop_during_a_run_makes_the_run_clean_up_and_fail(
    operator: Operator, stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given a run draining images slowly with the model it started
    stack.upload_samples(samples)
    stack.configure_model({"latency_ms": 1500})
    arn = stack.start_run()
    stack.wait_for_consumer("Enabled", timeout=60)

    # When the operator stops everything
    report = operator.json("stop", "--yes")

    # Then the run is named, and it ends failed through its cleanup, with the model stopped
    assert report["runInProgress"] == arn.rsplit(":", 1)[-1]
    execution = stack.wait(arn)
    assert (execution.status, execution.error) == ("FAILED", "ModelStoppedDuringRun")
    stack.wait_for_model("STOPPED")
    assert stack.consumer_state() == "Disabled"


def test_at_a_terminal_stop_asks_first_and_does_nothing_when_declined(stack: StackUnderTest) -> None:
    # Given a running model, and the operator at a terminal
    stack.start_model_as_operator()
    stops = stack.model_usage()["stopCalls"]
    process, controller = in_terminal(stack.endpoint, "stop")
    question = read_terminal(controller, lambda text: "[y/N]" in text)

    # When the operator answers no
    os.write(controller, b"n\n")
    shown = question + read_terminal(controller, lambda text: "Aborted" in text)
    exit_code = process.wait(timeout=30)
    os.close(controller)

    # Then the question named what would change, and nothing did
    assert exit_code == 1, shown
    assert "Disable the consumer (Disabled) and stop the model (RUNNING) of the local stack at" in " ".join(
        question.split()
    )
    assert stack.model_status() == "RUNNING"
    assert stack.model_usage()["stopCalls"] == stops


def test_stop_without_yes_and_without_a_terminal_refuses(operator: Operator, stack: StackUnderTest) -> None:
    stack.start_model_as_operator()

    result = operator.run("stop")

    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: stop changes the stack: confirm with --yes when not at a terminal."
    )
    assert stack.model_status() == "RUNNING"
