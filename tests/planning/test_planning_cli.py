"""`labelbatch plan`: the same figures as the simulation, every assumption stated, and a light import."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from click.testing import CliRunner

from labelbatch.cli import main
from labelbatch.local.deploy.template import load_template
from labelbatch.local.stack import TEMPLATE
from labelbatch.planning.arrivals import Pattern, generate
from labelbatch.planning.batch_run import BatchRun
from labelbatch.planning.catalog import Deployment
from labelbatch.planning.model import ModelSpec


def plan(*arguments: str) -> Any:
    result = CliRunner().invoke(main, ["plan", *arguments])
    assert result.exit_code == 0, result.output
    return result


def test_plan_reports_what_the_simulation_computes() -> None:
    document = json.loads(
        plan("--images-per-day", "3000", "--pattern", "daily-drop", "--start-minutes", "12", "--json").output
    )
    rows = {row["policy"]: row for row in document["policies"]}
    assert set(rows) >= {"always on", "business window", "reference sample", "labelbatch"}
    # The same month simulated directly: this application as deployed with the template's defaults.
    model = ModelSpec(start_seconds=720.0, start_spread_seconds=240.0)
    expected = BatchRun().simulate(generate(Pattern.DAILY_DROP, 3000), model)
    row = rows["labelbatch"]
    assert row["runsPerMonth"] == expected.runs
    assert row["latencySeconds"]["p95"] == pytest.approx(expected.latency(0.95))
    for billing in ("running", "running+starting"):
        figures = row["billing"][billing]
        assert figures["usdPerMonth"] == pytest.approx(figures["inferenceUnitHoursPerMonth"] * 4.0)
        assert figures["usdPerDay"] == pytest.approx(figures["usdPerMonth"] / 30)
    assert row["billing"]["running"]["inferenceUnitHoursPerMonth"] == pytest.approx(
        expected.running_unit_seconds / 3600
    )
    assert document["floorInferenceUnitHoursPerMonth"] == pytest.approx(90_000 / 5 / 3600)
    assert "10-20 min" not in document["assumptions"]["model"]
    assert "8-16 min" in document["assumptions"]["model"]


def test_plan_prints_both_billing_assumptions_and_every_assumption() -> None:
    output = plan("--images-per-day", "500", "--pattern", "business-hours").output
    assert "Model billed for RUNNING time only" in output
    assert "Model billed for RUNNING and STARTING time" in output
    for name in ("uploads", "month", "model", "floor", "labelbatch", "queue", "billing", "Step Functions"):
        assert f" {name} " in output


def test_plan_finds_the_cheapest_schedule_for_a_latency_target() -> None:
    document = json.loads(plan("--images-per-day", "2000", "--p95-target-minutes", "30", "--json").output)
    cheapest = document["p95Target"]["cheapest"]
    for billing in ("running", "running+starting"):
        assert cheapest[billing]["p95Seconds"] <= 30 * 60
        assert cheapest[billing]["scheduleExpression"].startswith("rate(")


def test_plan_refuses_a_schedule_without_a_period() -> None:
    result = CliRunner().invoke(main, ["plan", "--images-per-day", "10", "--schedule", "cron(0 * * * ? *)"])
    assert result.exit_code == 2
    assert "only rate(...) expressions" in result.output


def test_plan_simulates_units_from_the_backlog_as_deployed() -> None:
    # Given a daily drop that one unit drains in hours
    arguments = ("--images-per-day", "30000", "--pattern", "daily-drop", "--json")
    fixed = json.loads(plan(*arguments).output)
    # When the deployment starts the model with the units that drain the backlog in 10 minutes (up to 8)
    sized = json.loads(plan(*arguments, "--drain-target-minutes", "10", "--max-inference-units", "8").output)

    # Then the plan says so, and this application's images wait markedly less (p95 2.3 h to 72 min, seed 1)
    assert (
        "DrainTargetMinutes 10 (units to drain the backlog in that time, up to MaxInferenceUnits 8)"
        in (sized["assumptions"]["labelbatch"])
    )
    fixed_row, sized_row = (
        next(row for row in document["policies"] if row["policy"] == "labelbatch")
        for document in (fixed, sized)
    )
    assert sized_row["latencySeconds"]["p95"] < 0.75 * fixed_row["latencySeconds"]["p95"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--drain-target-minutes", "10"), "set that too"),
        (("--inference-units", "3", "--max-inference-units", "2"), "must be at least --inference-units"),
    ],
)
def test_plan_refuses_units_the_template_would_refuse(options: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(main, ["plan", "--images-per-day", "10", *options])
    assert result.exit_code == 2
    assert message in result.output


def test_the_plan_command_stays_light() -> None:
    # `labelbatch plan` must answer in seconds from a fresh clone: no local stack, AWS SDK or plotting.
    probe = (
        "import sys, labelbatch.planning.cli; "
        "heavy = [m for m in ('matplotlib', 'boto3', 'moto', 'labelbatch.local') if m in sys.modules]; "
        "print(heavy)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_plan_defaults_are_the_templates() -> None:
    # Given the template's parameters
    parameters = load_template(TEMPLATE)["Parameters"]
    # Then `labelbatch plan` without options simulates the application as it deploys by default
    deployed = Deployment().as_deployed()
    assert deployed.poll_seconds == parameters["PollIntervalSeconds"]["Default"]
    assert parameters["ScheduleExpression"]["Default"] == "rate(1 hour)" == plan_defaults()["schedule"]
    assert deployed.schedule_seconds == 3600
    assert deployed.inference_units == parameters["MinInferenceUnits"]["Default"]
    assert ModelSpec().tps_per_inference_unit == float(parameters["TpsPerInferenceUnit"]["Default"])


def plan_defaults() -> dict[str, object]:
    return {parameter.name: parameter.default for parameter in main.commands["plan"].params}
