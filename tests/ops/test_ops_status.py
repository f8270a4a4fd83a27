"""`labelbatch status`: is the model running and why, what waits, what the last run did, is money spent?"""

from __future__ import annotations

from datetime import timedelta

from labelbatch.images import SampleImage
from labelbatch.ops.times import iso
from ops.conftest import Operator, SharedStack, set_batch_run_schedule
from support.stack_helpers import StackUnderTest

STATUS_KEYS = {
    "stack",
    "at",
    "unitPriceUsdPerHour",
    "model",
    "queue",
    "deadLetters",
    "consumer",
    "schedule",
    "marker",
    "run",
    "spending",
}


def test_a_new_stack_spends_nothing_and_says_so(shared_stack: SharedStack) -> None:
    # Given a stack that has never run
    stack = shared_stack.stack

    # When the operator asks for its status (as the shared stack's fixture did once it was deployed)
    status = shared_stack.status_as_deployed

    # Then every part is there, the model at rest, nothing waiting, nothing spent
    assert set(status) == STATUS_KEYS
    assert status["stack"] == f"local stack at {stack.endpoint}"
    assert status["model"] == {
        "projectVersionArn": stack.model_report()["projectVersionArn"],
        "status": "TRAINING_COMPLETED",
        "statusMessage": "The model is ready to run.",
        "inferenceUnits": None,
        "maxInferenceUnits": None,
        "since": None,
        "startedByRun": None,
    }
    assert status["queue"] == {"visible": 0, "inFlight": 0, "delayed": 0, "waiting": 0, "total": 0}
    assert status["deadLetters"] == 0
    # The template's size, until a run sizes it to the model.
    assert status["consumer"] == {"state": "Disabled", "maximumConcurrency": 2}
    assert status["marker"] == {"value": "none", "changedAt": None}
    assert status["run"] is None
    # The test stack fires no schedule (as `local up --no-schedule`), and Scheduler says so.
    assert status["schedule"] == status["schedule"] | {
        "state": "DISABLED",
        "expression": "rate(1 hour)",
        "timezone": "UTC",
        "nextFireAt": None,
    }
    assert status["schedule"]["name"].startswith("labelbatch-local-BatchRunStateMachineBatchRunSchedule")
    assert status["spending"] == {
        "spending": False,
        "usdPerHour": 0.0,
        "reason": "No: the model is TRAINING_COMPLETED, so only per-image Lambda, SQS and S3 costs accrue.",
    }


def test_after_a_run_it_shows_the_run_and_when_the_model_stopped(
    operator: Operator, stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given two images processed by a run that started and stopped the model
    stack.upload_samples(samples[:2])
    execution = stack.run_to_end()
    stack.wait_for_model("STOPPED")

    # When the operator asks for the status
    status = operator.json("status")

    # Then the last run is that one, the model at rest since the run cleared its marker
    run = status["run"]
    assert (run["arn"], run["status"], run["outcome"], run["backlogAtStart"]) == (
        execution.arn,
        "SUCCEEDED",
        "processed",
        2,
    )
    assert (run["modelStartedByRun"], run["modelStoppedByRun"], run["inferenceUnits"]) == (True, True, 1)
    assert run["modelSeconds"] > 0
    assert status["model"]["status"] == "STOPPED"
    assert status["model"]["inferenceUnits"] == 1
    assert status["marker"]["value"] == "none"
    assert status["model"]["since"] == status["marker"]["changedAt"] is not None
    assert status["spending"]["spending"] is False


def test_a_model_started_outside_labelbatch_is_reported_as_spending_until_stopped(
    operator: Operator, stack: StackUnderTest
) -> None:
    # Given a model an operator started by hand
    stack.start_model_as_operator()

    # When the operator asks for the status
    status = operator.json("status")

    # Then it says money is spent, how much, and that no labelbatch run will stop it
    assert status["model"]["status"] == "RUNNING"
    assert status["spending"] == {
        "spending": True,
        "usdPerHour": 4.0,
        "reason": (
            "Yes: the model is RUNNING (1 inference unit, about 4.00 USD an hour) and no labelbatch run "
            "started it, so labelbatch leaves it running: `labelbatch stop` stops it."
        ),
    }


def test_a_model_left_running_by_a_dead_run_points_at_the_reaper_and_at_stop(
    operator: Operator, stack: StackUnderTest
) -> None:
    # Given a running model whose start marker names a run that is not running
    stack.start_model_as_operator()
    dead_run = stack.outputs["StateMachineArn"].replace(":stateMachine:", ":execution:") + ":run-that-died"
    stack.set_marker(dead_run)

    # When the operator asks for the status, at twice the list price
    status = operator.json("status", "--unit-price", "8")

    # Then the model is attributed to that run, with the way out
    assert status["model"]["startedByRun"] == dead_run
    assert status["model"]["since"] == status["marker"]["changedAt"] is not None
    assert status["spending"] == {
        "spending": True,
        "usdPerHour": 8.0,
        "reason": (
            "Yes: the model is RUNNING (1 inference unit, about 8.00 USD an hour), started by run "
            "run-that-died, which is no longer running: the model reaper stops it within 15 minutes once the "
            "queue is empty, or `labelbatch stop` stops it now."
        ),
    }


def test_the_human_status_is_a_table_ending_in_the_spending_sentence(
    operator: Operator, stack: StackUnderTest
) -> None:
    # Given a message waiting and nothing running
    stack.client("sqs").send_message(QueueUrl=stack.outputs["ImageQueueUrl"], MessageBody="{}")
    mapping = stack.client("lambda").get_event_source_mapping(UUID=stack.outputs["EventSourceMappingId"])
    concurrency, model = mapping["ScalingConfig"]["MaximumConcurrency"], stack.model_status()

    # When the operator asks for the status without --json
    result = operator.run("status")

    # Then it reads as sentences, without colour codes (stdout is not a terminal)
    assert result.exit_code == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert f"labelbatch: local stack at {stack.endpoint}" in lines
    assert any(
        line.startswith("Image queue") and "1 waiting (1 visible, 0 in flight)" in line for line in lines
    )
    assert any(
        line.startswith("Consumer") and f"Disabled (at most {concurrency} at once)" in line for line in lines
    )
    assert any(
        line.startswith("Spending")
        and f"No: the model is {model}, so only per-image Lambda, SQS and S3 costs accrue; 1 message waits"
        in line
        for line in lines
    )
    assert "\x1b[" not in result.stdout


def test_an_enabled_schedule_fires_next_a_whole_interval_after_its_creation(
    operator: Operator, stack: StackUnderTest
) -> None:
    # Given the batch-run schedule enabled, as deployed with ScheduleState=ENABLED
    schedule = set_batch_run_schedule(stack, "ENABLED")

    # When the operator asks for the status
    status = operator.json("status")

    # Then the next run is one hour after the schedule was created (the stack is younger than an hour)
    assert status["schedule"]["state"] == "ENABLED"
    assert status["schedule"]["nextFireAt"] == iso(schedule["CreationDate"] + timedelta(hours=1))
