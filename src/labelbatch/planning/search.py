"""The cheapest setting of this application that meets a p95 latency target.

A search over ScheduleExpression periods, with and without units from the backlog, on top of the recommended
polling: what a user would otherwise try by hand, deploy by deploy. Cost is the model's (under one billing
assumption) plus Step Functions' transitions; a setting with failed runs or images left unprocessed never
wins.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from labelbatch.planning.arrivals import Arrivals
from labelbatch.planning.batch_run import BatchRun
from labelbatch.planning.catalog import DRAIN_MAX_INFERENCE_UNITS, DRAIN_TARGET_SECONDS, Deployment
from labelbatch.planning.meter import Outcome
from labelbatch.planning.model import Billing, ModelSpec
from labelbatch.schedule_expression import rate_expression

PERIOD_MINUTES = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1440)


@dataclass(frozen=True)
class Found:
    policy: BatchRun
    outcome: Outcome

    def cost(self, billing: Billing, model: ModelSpec) -> float:
        return self.outcome.model_cost(billing, model) + self.outcome.orchestration_cost


def settings_to_try(deployment: Deployment) -> list[BatchRun]:
    base = deployment.recommended()
    tried = []
    for minutes in PERIOD_MINUTES:
        period = dataclasses.replace(
            base, schedule_seconds=minutes * 60.0, name=rate_expression(minutes * 60.0)
        )
        tried.append(period)
        tried.append(
            dataclasses.replace(
                period,
                name=f"{rate_expression(minutes * 60.0)}, units from backlog",
                drain_target_seconds=DRAIN_TARGET_SECONDS,
                max_inference_units=max(DRAIN_MAX_INFERENCE_UNITS, base.inference_units),
            )
        )
    return tried


def simulate_all(policies: list[BatchRun], arrivals: Arrivals, model: ModelSpec, seed: int) -> list[Found]:
    return [Found(policy, policy.simulate(arrivals, model, seed)) for policy in policies]


def cheapest_within(
    found: list[Found], p95_target_seconds: float, billing: Billing, model: ModelSpec
) -> Found | None:
    """The cheapest tried setting whose p95 meets the target, or None when none does."""
    eligible = [
        item
        for item in found
        if item.outcome.failed_runs == 0
        and item.outcome.unprocessed_images == 0
        and item.outcome.latency(0.95) <= p95_target_seconds
    ]
    return min(eligible, key=lambda item: item.cost(billing, model), default=None)
