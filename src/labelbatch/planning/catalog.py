"""The policies `labelbatch plan` and bench/cost_policy.py compare, built from one set of settings.

The alternatives (always on, a business-hours window, AWS's reference sample), this application as deployed
(its schedule and PollIntervalSeconds, issue 7's drain) and the candidate options of issue 9 on top of the
recommended polling. One place builds them, so that the command and the documentation show the same rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from labelbatch.planning.alternatives import AlwaysOn, BusinessWindow, ReferenceSample
from labelbatch.planning.arrivals import HOUR_SECONDS
from labelbatch.planning.batch_run import DEFAULT_POLL_SECONDS, BacklogTrigger, BatchRun
from labelbatch.planning.policy import Policy

# What the simulation recommends (docs/PERFORMANCE.md, "Cost policy"): see `recommended()`.
RECOMMENDED_POLL_SECONDS = 15.0
BACKLOG_CHECK_SECONDS = 300.0
BACKLOG_TRIGGER_WORK_SECONDS = 300.0
DRAIN_TARGET_SECONDS = 600.0
DRAIN_MAX_INFERENCE_UNITS = 8
KEEP_WARM_SECONDS = 1800.0


@dataclass(frozen=True)
class Deployment:
    """This application as deployed: the template parameters the simulation depends on."""

    schedule_seconds: float = HOUR_SECONDS
    poll_seconds: float = DEFAULT_POLL_SECONDS
    inference_units: int = 1
    max_inference_units: int | None = None
    """MaxInferenceUnits: the most units a drain target may choose (Rekognition's auto-scaling beyond the
    units a run starts with is not simulated)."""
    drain_target_seconds: float | None = None
    """DrainTargetMinutes in seconds: start with the units that drain the backlog in this time."""

    def as_deployed(self) -> BatchRun:
        return BatchRun(
            name="labelbatch",
            schedule_seconds=self.schedule_seconds,
            poll_seconds=self.poll_seconds,
            inference_units=self.inference_units,
            max_inference_units=self.max_inference_units or self.inference_units,
            drain_target_seconds=self.drain_target_seconds,
        )

    def recommended(self) -> BatchRun:
        """Polls every 15 s while the model starts; the drain waits as long as its backlog needs (>= 15 s)."""
        return dataclasses.replace(
            self.as_deployed(),
            name="poll 15 s",
            poll_seconds=RECOMMENDED_POLL_SECONDS,
            drain_wait_from_backlog=True,
        )


def alternatives(inference_units: int) -> list[Policy]:
    return [
        AlwaysOn(inference_units=inference_units),
        BusinessWindow(inference_units=inference_units),
        ReferenceSample(inference_units=inference_units),
    ]


def candidates(deployment: Deployment, tps_per_inference_unit: float) -> list[BatchRun]:
    """Issue 9's candidate options, each on top of the recommended polling."""
    base = deployment.recommended()
    trigger_images = max(
        1, round(BACKLOG_TRIGGER_WORK_SECONDS * tps_per_inference_unit * base.inference_units)
    )
    return [
        base,
        dataclasses.replace(
            base,
            name="+ backlog trigger",
            trigger=BacklogTrigger(check_seconds=BACKLOG_CHECK_SECONDS, min_images=trigger_images),
        ),
        dataclasses.replace(
            base,
            name="+ units",
            drain_target_seconds=DRAIN_TARGET_SECONDS,
            max_inference_units=max(DRAIN_MAX_INFERENCE_UNITS, base.inference_units),
        ),
        dataclasses.replace(base, name="+ keep warm", min_run_seconds=KEEP_WARM_SECONDS),
    ]


def compared_policies(deployment: Deployment, tps_per_inference_unit: float) -> list[Policy]:
    return [
        *alternatives(deployment.inference_units),
        deployment.as_deployed(),
        *candidates(deployment, tps_per_inference_unit),
    ]
