"""`labelbatch plan`: what a month costs and how long images wait, this application beside the alternatives.

Kept light on purpose: it imports the simulation, click and rich, never the local stack or matplotlib.
"""

from __future__ import annotations

import json
import math
import sys

import click
from rich import box
from rich.console import Console
from rich.table import Table

from labelbatch.planning.arrivals import MONTH_DAYS, Pattern
from labelbatch.planning.batch_run import DEFAULT_POLL_SECONDS
from labelbatch.planning.catalog import Deployment
from labelbatch.planning.model import INFERENCE_UNIT_HOUR_PRICE_USD, Billing, ModelSpec
from labelbatch.planning.report import PlanReport, PlanRequest, make_report
from labelbatch.schedule_expression import ScheduleError, rate_expression, rate_seconds

_PIPED_WIDTH = 120
_BILLING_TITLES = {
    Billing.RUNNING: "Model billed for RUNNING time only",
    Billing.RUNNING_AND_STARTING: "Model billed for RUNNING and STARTING time",
}


@click.command()
@click.option(
    "--images-per-day",
    required=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Average uploads a day.",
)
@click.option(
    "--pattern",
    type=click.Choice([pattern.value for pattern in Pattern]),
    default=Pattern.TRICKLE.value,
    show_default=True,
    help="How the uploads arrive.",
)
@click.option(
    "--tps-per-inference-unit",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Images a second one inference unit serves (TpsPerInferenceUnit).",
)
@click.option(
    "--inference-units", type=click.IntRange(min=1), default=1, show_default=True, help="MinInferenceUnits."
)
@click.option(
    "--max-inference-units",
    type=click.IntRange(min=1),
    help="MaxInferenceUnits: the most units --drain-target-minutes may start the model with.",
)
@click.option(
    "--drain-target-minutes",
    type=click.IntRange(min=1),
    help="DrainTargetMinutes: start with the units that drain the backlog in this time (needs "
    "--max-inference-units).",
)
@click.option(
    "--start-minutes",
    type=click.FloatRange(min=0),
    default=15.0,
    show_default=True,
    help="Typical time from StartProjectVersion to RUNNING.",
)
@click.option(
    "--start-spread-minutes",
    type=click.FloatRange(min=0),
    help="Starts vary uniformly by this much either way (default: a third of --start-minutes).",
)
@click.option(
    "--in-flight-seconds",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds from the consumer's receive to an image's result (a batch analyzed, results written).",
)
@click.option(
    "--price-per-inference-unit-hour",
    type=click.FloatRange(min=0),
    default=INFERENCE_UNIT_HOUR_PRICE_USD,
    show_default=True,
    help="USD per inference-unit hour.",
)
@click.option(
    "--schedule", default="rate(1 hour)", show_default=True, help="ScheduleExpression (rate(...) only)."
)
@click.option(
    "--poll-seconds",
    type=click.IntRange(1, 900),
    default=int(DEFAULT_POLL_SECONDS),
    show_default=True,
    help="PollIntervalSeconds as deployed.",
)
@click.option(
    "--p95-target-minutes",
    type=click.FloatRange(min=0, min_open=True),
    help="Also search the cheapest schedule (and inference units) whose p95 latency meets this.",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Seed of the simulated uploads and starts."
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(
    images_per_day: float,
    pattern: str,
    tps_per_inference_unit: float,
    inference_units: int,
    max_inference_units: int | None,
    drain_target_minutes: int | None,
    start_minutes: float,
    start_spread_minutes: float | None,
    in_flight_seconds: float,
    price_per_inference_unit_hour: float,
    schedule: str,
    poll_seconds: int,
    p95_target_minutes: float | None,
    seed: int,
    as_json: bool,
) -> None:
    """Simulate a month of uploads: model hours, cost and latency of each policy, both billing assumptions."""
    try:
        schedule_seconds = rate_seconds(schedule)
    except ScheduleError as exc:
        raise click.BadParameter(str(exc), param_hint="--schedule") from exc
    if drain_target_minutes is not None and max_inference_units is None:
        raise click.BadParameter(
            "chooses units between --inference-units and --max-inference-units: set that too",
            param_hint="--drain-target-minutes",
        )
    if max_inference_units is not None and max_inference_units < inference_units:
        raise click.BadParameter("must be at least --inference-units", param_hint="--max-inference-units")
    spread = start_minutes / 3 if start_spread_minutes is None else start_spread_minutes
    if spread > start_minutes:
        raise click.BadParameter("must not exceed --start-minutes", param_hint="--start-spread-minutes")
    request = PlanRequest(
        images_per_day=images_per_day,
        pattern=Pattern(pattern),
        model=ModelSpec(
            tps_per_inference_unit=tps_per_inference_unit,
            start_seconds=start_minutes * 60,
            start_spread_seconds=spread * 60,
            in_flight_seconds=in_flight_seconds,
            price_per_inference_unit_hour=price_per_inference_unit_hour,
        ),
        deployment=Deployment(
            schedule_seconds=schedule_seconds,
            poll_seconds=poll_seconds,
            inference_units=inference_units,
            max_inference_units=max_inference_units,
            drain_target_seconds=None if drain_target_minutes is None else drain_target_minutes * 60.0,
        ),
        p95_target_seconds=None if p95_target_minutes is None else p95_target_minutes * 60,
        seed=seed,
    )
    report = make_report(request)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        return
    # Piped into a file or a pager, the tables keep one line per policy.
    console = Console() if sys.stdout.isatty() else Console(width=_PIPED_WIDTH)
    render(report, console)


def render(report: PlanReport, console: Console) -> None:
    assumptions = Table(title="Assumptions", show_header=False, box=None, padding=(0, 1))
    assumptions.add_column(style="bold")
    assumptions.add_column()
    for name, text in report.assumptions():
        assumptions.add_row(name, text)
    console.print(assumptions)
    for billing in Billing:
        console.print(_costs(report, billing))
    policies = Table(title="Policies", show_header=False, box=None, padding=(0, 1))
    policies.add_column(style="bold")
    policies.add_column()
    for row in report.rows:
        policies.add_row(row.policy, row.summary)
    console.print(policies)
    if report.request.p95_target_seconds is not None:
        _print_best(report, console)


def _costs(report: PlanReport, billing: Billing) -> Table:
    model = report.model
    table = Table(
        title=_BILLING_TITLES[billing],
        title_justify="left",
        caption="Unit-h: inference-unit hours a month; x floor: over N / C; Step Fn: USD a month",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("Policy", no_wrap=True)
    for header in ("Runs", "Unit-h", "x floor", "USD/day", "USD/month", "Step Fn", "p50", "p95"):
        table.add_column(header, justify="right")
    for row in report.rows:
        outcome = row.outcome
        failed = f" ({outcome.failed_runs} failed)" if outcome.failed_runs else ""
        lost = f" [red]{outcome.unprocessed_images:,} lost[/red]" if outcome.unprocessed_images else ""
        step_functions = _usd(outcome.orchestration_cost) if outcome.transitions else "-"
        table.add_row(
            row.policy + lost,
            f"{outcome.runs:,}{failed}" if outcome.runs else "-",
            f"{row.unit_hours(billing):,.1f}",
            f"{row.unit_hours(billing) / report.floor_unit_hours:,.2f}",
            _usd(row.model_usd(billing, model) / MONTH_DAYS),
            _usd(row.model_usd(billing, model)),
            step_functions,
            latency_text(outcome.latency(0.5)),
            latency_text(outcome.latency(0.95)),
        )
    return table


def _print_best(report: PlanReport, console: Console) -> None:
    target = report.request.p95_target_seconds
    assert target is not None
    for billing, found in report.best.items():
        label = _BILLING_TITLES[billing].replace("Model billed for ", "")
        if found is None:
            console.print(
                f"[bold]p95 <= {latency_text(target)}[/bold] ({label}): no schedule tried meets it."
            )
            continue
        assert found.policy.schedule_seconds is not None
        console.print(
            f"[bold]p95 <= {latency_text(target)}[/bold] ({label}): ScheduleExpression "
            f"{rate_expression(found.policy.schedule_seconds)}; {found.policy.summary}: "
            f"{found.cost(billing, report.model):,.2f} USD/month with Step Functions, "
            f"p95 {latency_text(found.outcome.latency(0.95))}"
        )


def latency_text(seconds: float) -> str:
    """A latency as people read it: seconds, minutes, hours or days ("-" when there is none)."""
    if math.isnan(seconds):
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 100 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _usd(amount: float) -> str:
    return f"{amount:,.0f}" if amount >= 100 else f"{amount:.2f}"


if __name__ == "__main__":
    plan()
