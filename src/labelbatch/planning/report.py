"""One plan: the uploads, the model, every compared policy's month, and the assumptions behind the figures.

`labelbatch plan` renders it as tables or JSON; bench/cost_policy.py as Markdown. Both call `make_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labelbatch.planning.arrivals import (
    DEFAULT_MAX_LOTS,
    MONTH_DAYS,
    Arrivals,
    Pattern,
    PatternShape,
    clock_text,
    generate,
)
from labelbatch.planning.catalog import Deployment, compared_policies
from labelbatch.planning.meter import Outcome
from labelbatch.planning.model import TRANSITION_PRICE_USD, Billing, ModelSpec
from labelbatch.planning.policy import Policy
from labelbatch.planning.search import Found, cheapest_within, settings_to_try, simulate_all
from labelbatch.schedule_expression import rate_expression


@dataclass(frozen=True)
class PlanRequest:
    images_per_day: float
    pattern: Pattern = Pattern.TRICKLE
    model: ModelSpec = field(default_factory=ModelSpec)
    deployment: Deployment = field(default_factory=Deployment)
    p95_target_seconds: float | None = None
    seed: int = 1
    max_lots: int = DEFAULT_MAX_LOTS


@dataclass(frozen=True)
class Row:
    """One policy's month, as the tables show it."""

    policy: str
    summary: str
    outcome: Outcome

    def unit_hours(self, billing: Billing) -> float:
        return self.outcome.unit_hours(billing)

    def model_usd(self, billing: Billing, model: ModelSpec) -> float:
        return self.outcome.model_cost(billing, model)

    def as_json(self, model: ModelSpec, floor_unit_hours: float) -> dict[str, Any]:
        outcome = self.outcome
        return {
            "policy": self.policy,
            "summary": self.summary,
            "runsPerMonth": outcome.runs,
            "startsPerMonth": outcome.starts,
            "failedRuns": outcome.failed_runs,
            "unprocessedImages": outcome.unprocessed_images,
            "latencySeconds": {"p50": outcome.latency(0.5), "p95": outcome.latency(0.95)},
            "stepFunctionsUsdPerMonth": outcome.orchestration_cost,
            "billing": {
                billing.value: {
                    "inferenceUnitHoursPerMonth": outcome.unit_hours(billing),
                    "timesFloor": outcome.unit_hours(billing) / floor_unit_hours,
                    "usdPerDay": outcome.model_cost(billing, model) / MONTH_DAYS,
                    "usdPerMonth": outcome.model_cost(billing, model),
                }
                for billing in Billing
            },
        }


@dataclass(frozen=True)
class PlanReport:
    request: PlanRequest
    arrivals: Arrivals
    rows: list[Row]
    best: dict[Billing, Found | None] = field(default_factory=dict)
    """With a p95 target: the cheapest setting tried that meets it, per billing assumption."""

    @property
    def model(self) -> ModelSpec:
        return self.request.model

    @property
    def floor_unit_hours(self) -> float:
        """N / C: the model time the month's images need at capacity, in inference-unit hours."""
        return self.arrivals.images / self.model.tps_per_inference_unit / 3600

    def assumptions(self) -> list[tuple[str, str]]:
        request, model, arrivals = self.request, self.model, self.arrivals
        deployment = request.deployment
        units = deployment.inference_units
        steps = deployment.as_deployed().transitions
        start_low = (model.start_seconds - model.start_spread_seconds) / 60
        start_high = (model.start_seconds + model.start_spread_seconds) / 60
        lots = "" if arrivals.weight == 1 else f", simulated in lots of {arrivals.weight} images"
        return [
            (
                "uploads",
                f"{_pattern_text(request.pattern)}; {request.images_per_day:,.0f} images a day on average",
            ),
            (
                "month",
                f"{MONTH_DAYS} days from Monday 00:00 (22 weekdays), {arrivals.images:,} images, "
                f"seed {request.seed}{lots}",
            ),
            (
                "model",
                f"{model.tps_per_inference_unit:g} images/s per inference unit x {units} = "
                f"{model.capacity(units):g} images/s; a start takes {start_low:g}-{start_high:g} min "
                f"(uniform), a stop {model.stop_seconds:g} s; "
                f"{model.price_per_inference_unit_hour:.2f} USD per inference-unit hour",
            ),
            (
                "floor",
                f"{arrivals.images:,} images / {model.tps_per_inference_unit:g} images/s per unit = "
                f"{self.floor_unit_hours:,.1f} inference-unit hours a month "
                f"({self.floor_unit_hours * model.price_per_inference_unit_hour:,.2f} USD)",
            ),
            (
                "labelbatch",
                f"as deployed: {rate_expression(deployment.schedule_seconds)}, PollIntervalSeconds "
                f"{deployment.poll_seconds:g}, MinInferenceUnits {units}{_units_from_backlog(deployment)}. "
                "A run skips while another runs, "
                "starts the model when anything waits, polls until RUNNING (first poll one interval after "
                "the start), enables the consumer (taken as instant), which drains at capacity with uploads "
                "arriving meanwhile, and stops the model at the first reading that finds nothing waiting "
                "(issue 7)",
            ),
            (
                "queue",
                "readings are instantaneous (visible + in flight); the consumer serves first in, first out "
                f"at the model's capacity, each image in flight {model.in_flight_seconds:g} s from receive "
                "to result; SQS keeps an image 14 days",
            ),
            (
                "billing",
                "every table twice: RUNNING time only (AWS: 'the time your model is running'), and RUNNING + "
                "STARTING (not stated by AWS); per second, no minimum; STOPPING never billed",
            ),
            (
                "Step Functions",
                f"{TRANSITION_PRICE_USD * 1000:.3f} USD per 1,000 state transitions, counted from the "
                f"definition (idle run {steps.idle_run}, run {steps.run}, {steps.start_poll} per start poll, "
                f"{steps.drain_poll} per drain reading); "
                "only this application's rows",
            ),
        ]

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "assumptions": dict(self.assumptions()),
            "imagesPerMonth": self.arrivals.images,
            "floorInferenceUnitHoursPerMonth": self.floor_unit_hours,
            "policies": [row.as_json(self.model, self.floor_unit_hours) for row in self.rows],
        }
        if self.request.p95_target_seconds is not None:
            document["p95Target"] = {
                "seconds": self.request.p95_target_seconds,
                "cheapest": {
                    billing.value: None
                    if found is None
                    else {
                        "scheduleExpression": rate_expression(_period(found)),
                        "policy": found.policy.summary,
                        "usdPerMonth": found.cost(billing, self.model),
                        "p95Seconds": found.outcome.latency(0.95),
                    }
                    for billing, found in self.best.items()
                },
            }
        return document


def make_report(request: PlanRequest) -> PlanReport:
    arrivals = generate(request.pattern, request.images_per_day, seed=request.seed, max_lots=request.max_lots)
    policies: list[Policy] = compared_policies(request.deployment, request.model.tps_per_inference_unit)
    rows = [
        Row(policy.name, policy.summary, policy.simulate(arrivals, request.model, request.seed))
        for policy in policies
    ]
    best: dict[Billing, Found | None] = {}
    if request.p95_target_seconds is not None:
        found = simulate_all(settings_to_try(request.deployment), arrivals, request.model, request.seed)
        best = {
            billing: cheapest_within(found, request.p95_target_seconds, billing, request.model)
            for billing in Billing
        }
    return PlanReport(request=request, arrivals=arrivals, rows=rows, best=best)


def _period(found: Found) -> float:
    assert found.policy.schedule_seconds is not None
    return found.policy.schedule_seconds


def _pattern_text(pattern: Pattern) -> str:
    shape = PatternShape()
    if pattern is Pattern.TRICKLE:
        return "trickle: uploads at random (Poisson) around the clock, every day"
    if pattern is Pattern.BUSINESS_HOURS:
        return (
            f"business-hours: Mon-Fri {shape.business_open_hour:g}:00-{shape.business_close_hour:g}:00 only, "
            f"{shape.bursts_per_business_hour:g} bursts an hour (a folder at "
            f"{shape.burst_upload_images_per_second:g} images/s, sizes varying), 7/5 of the daily average "
            "each weekday"
        )
    return (
        f"daily-drop: one drop a day starting between {clock_text(shape.drop_earliest_hour)} and "
        f"{clock_text(shape.drop_earliest_hour + shape.drop_window_hours)}, uploaded over "
        f"{shape.drop_upload_minutes:g} min"
    )


def _units_from_backlog(deployment: Deployment) -> str:
    if deployment.drain_target_seconds is None:
        return ""
    return (
        f", DrainTargetMinutes {deployment.drain_target_seconds / 60:g} (units to drain the backlog in that "
        f"time, up to MaxInferenceUnits {deployment.max_inference_units})"
    )
