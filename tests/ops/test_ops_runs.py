"""`labelbatch runs` and `runs show`: what each run did, how long the model ran, what that cost."""

from __future__ import annotations

import pytest

from labelbatch.images import SampleImage
from labelbatch.ops.steps import STEP_TITLES
from labelbatch.ops.times import parse_iso, seconds_between
from ops.conftest import Operator, SharedStack
from support.stack_helpers import Execution, StackUnderTest

RUN_KEYS = {
    "name",
    "arn",
    "status",
    "startedAt",
    "stoppedAt",
    "durationSeconds",
    "outcome",
    "error",
    "cause",
    "backlogAtStart",
    "modelStartedByRun",
    "modelStoppedByRun",
    "modelRunningSince",
    "inferenceUnits",
    "modelSeconds",
    "modelCostUsd",
}


@pytest.fixture(scope="module")
def processed_then_idle(shared_stack: SharedStack, samples: list[SampleImage]) -> tuple[Execution, Execution]:
    """A run that processed two images, then one that found nothing to do (the runs stay in the history
    when the stack is made idle)."""
    stack = shared_stack.stack
    stack.upload_samples(samples[:2])
    return stack.run_to_end(), stack.run_to_end()


def test_runs_lists_the_newest_first_with_model_time_and_its_cost(
    operator: Operator, stack: StackUnderTest, processed_then_idle: tuple[Execution, Execution]
) -> None:
    # Given a run that processed two images, then one that found nothing to do
    processed, idle = processed_then_idle

    # When the operator lists the recent runs
    answer = operator.json("runs")

    # Then both are there, newest first, with the summary's figures and the model's cost at the list price
    assert answer["unitPriceUsdPerHour"] == 4.0
    assert answer["stateMachineArn"] == stack.outputs["StateMachineArn"]
    listed = [run["arn"] for run in answer["runs"]]
    assert listed.index(idle.arn) == listed.index(processed.arn) - 1
    newest, oldest = (answer["runs"][listed.index(execution.arn)] for execution in (idle, processed))
    assert set(newest) == set(oldest) == RUN_KEYS
    assert (newest["arn"], newest["status"], newest["outcome"], newest["backlogAtStart"]) == (
        idle.arn,
        "SUCCEEDED",
        "nothing-to-do",
        0,
    )
    assert (newest["modelSeconds"], newest["modelCostUsd"], newest["inferenceUnits"]) == (0.0, 0.0, None)
    assert processed.output is not None
    model_seconds = seconds_between(
        parse_iso(processed.output["modelRunningSince"]), parse_iso(processed.output["finishedAt"])
    )
    assert oldest == oldest | {
        "arn": processed.arn,
        "status": "SUCCEEDED",
        "outcome": "processed",
        "backlogAtStart": 2,
        "modelStartedByRun": True,
        "modelStoppedByRun": True,
        "inferenceUnits": 1,
        "modelSeconds": model_seconds,
        "modelCostUsd": round(model_seconds / 3600 * 4.0, 4),
        "error": None,
    }
    assert model_seconds > 0


def test_runs_show_groups_the_states_as_the_readme_steps(
    operator: Operator, processed_then_idle: tuple[Execution, Execution]
) -> None:
    # Given a run that started the model, drained two images and stopped the model
    execution, _ = processed_then_idle

    # When the operator shows it by name
    detail = operator.json("runs", "show", execution.arn.rsplit(":", 1)[-1])

    # Then its timeline is the README's steps 1 to 4, in order, each state as entered, and its summary
    assert [(step["step"], step["title"]) for step in detail["timeline"]] == list(STEP_TITLES.items())
    entered = [visit["name"] for step in detail["timeline"] for visit in step["states"]]
    assert set(entered) == set(execution.entered)
    assert sum(visit["entered"] for step in detail["timeline"] for visit in step["states"]) == len(
        execution.entered
    )
    assert detail["summary"] == execution.output
    assert detail["run"]["arn"] == execution.arn
    assert detail["failures"] == []
    for step in detail["timeline"]:
        assert step["startedAt"] <= step["endedAt"]


def test_the_human_list_and_timeline_read_as_tables(
    operator: Operator, processed_then_idle: tuple[Execution, Execution]
) -> None:
    # Given one processed run
    execution, _ = processed_then_idle
    name = execution.arn.rsplit(":", 1)[-1]

    # When the operator reads them without --json (and with no stack named in the environment)
    listed = operator.run("runs")
    shown = operator.run("runs", "show", name, env={"AWS_ENDPOINT_URL": None})

    # Then the run, its outcome and the price note; the steps by title
    assert listed.exit_code == 0, listed.stderr
    assert shown.exit_code == 0, shown.stderr
    assert name in listed.stdout
    assert "processed" in listed.stdout
    assert "Costs at 4.00 USD per inference-unit hour, the us-east-1 list price" in listed.stdout
    for title in STEP_TITLES.values():
        assert title in shown.stdout
    assert "Summary: {" in shown.stdout


def test_runs_show_of_an_unknown_run_says_where_to_look(operator: Operator) -> None:
    result = operator.run("runs", "show", "no-such-run")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "error: There is no run 'no-such-run' of this stack's state machine: `labelbatch runs` lists the "
        "recent ones.\n"
    )


def test_limit_and_unit_price_shape_the_list(operator: Operator, stack: StackUnderTest) -> None:
    # Given two runs
    stack.run_to_end()
    newest = stack.run_to_end()

    # When the operator asks for the last one at another price
    answer = operator.json("runs", "--limit", "1", "--unit-price", "2.5")

    # Then only that one, priced as asked
    assert [run["arn"] for run in answer["runs"]] == [newest.arn]
    assert answer["unitPriceUsdPerHour"] == 2.5


def test_a_failed_run_shows_its_error_and_its_cleanup(operator: Operator, stack: StackUnderTest) -> None:
    # Given a run whose model start fails
    stack.client("sqs").send_message(QueueUrl=stack.outputs["ImageQueueUrl"], MessageBody="{}")
    stack.configure_model({"fail_next_start": True})
    execution = stack.run_to_end()
    assert (execution.status, execution.error) == ("FAILED", "ModelStartFailed")

    # When the operator lists the runs and shows this one
    listed = operator.json("runs")["runs"][0]
    detail = operator.json("runs", "show", execution.arn)

    # Then the error is there, its switch-off is step 4, and the model never ran so it cost nothing known
    assert (listed["status"], listed["outcome"], listed["error"]) == ("FAILED", None, "ModelStartFailed")
    assert (listed["modelSeconds"], listed["modelCostUsd"]) == (None, None)
    assert [step["step"] for step in detail["timeline"]] == [1, 2, 3, 4]
    switch_off = {visit["name"] for visit in detail["timeline"][-1]["states"]}
    assert {"Model Start Failed", "Clear Start Marker", "Disable Consumer", "Run Failed"} <= switch_off
    assert detail["summary"] is None
    assert detail["failures"][-1]["error"] == "ModelStartFailed"
    assert detail["failures"][-1]["state"] is None
