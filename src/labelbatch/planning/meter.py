"""What a simulated month costs and how long its images waited."""

from __future__ import annotations

import math
from dataclasses import dataclass

from labelbatch.planning.model import TRANSITION_PRICE_USD, Billing, ModelSpec


class Meter:
    """Accumulates model time inside [start, horizon): a simulated month, whose later time belongs to the next
    month, or a span of the Custom Labels emulator's clock (its usage report and capacity)."""

    def __init__(self, horizon: float, start: float = 0.0) -> None:
        self.horizon = horizon
        self.start = start
        self.running_unit_seconds = 0.0
        self.starting_unit_seconds = 0.0
        self.running_seconds = 0.0
        self.starts = 0
        self.runs = 0
        self.failed_runs = 0
        self.transitions = 0

    def starting(self, begin: float, end: float, units: int) -> None:
        self.starts += 1
        self.starting_unit_seconds += self._inside(begin, end) * units

    def running(self, begin: float, end: float, units: int) -> None:
        inside = self._inside(begin, end)
        self.running_seconds += inside
        self.running_unit_seconds += inside * units

    def _inside(self, begin: float, end: float) -> float:
        return max(0.0, min(end, self.horizon) - max(begin, self.start))


@dataclass(frozen=True)
class Outcome:
    """One policy over one month of one arrival pattern."""

    policy: str
    images: int
    running_unit_seconds: float
    starting_unit_seconds: float
    running_seconds: float
    starts: int
    runs: int
    failed_runs: int
    transitions: int
    latencies: tuple[float, ...]
    """Upload-to-result seconds of every lot, sorted (each lot is the same number of images)."""
    unprocessed_images: int

    @classmethod
    def of(cls, policy: str, images: int, meter: Meter, latencies: list[float], unprocessed: int) -> Outcome:
        return cls(
            policy=policy,
            images=images,
            running_unit_seconds=meter.running_unit_seconds,
            starting_unit_seconds=meter.starting_unit_seconds,
            running_seconds=meter.running_seconds,
            starts=meter.starts,
            runs=meter.runs,
            failed_runs=meter.failed_runs,
            transitions=meter.transitions,
            latencies=tuple(sorted(latencies)),
            unprocessed_images=unprocessed,
        )

    def unit_hours(self, billing: Billing) -> float:
        """Billed inference-unit hours in the month."""
        seconds = self.running_unit_seconds
        if billing is Billing.RUNNING_AND_STARTING:
            seconds += self.starting_unit_seconds
        return seconds / 3600

    def model_cost(self, billing: Billing, model: ModelSpec) -> float:
        return self.unit_hours(billing) * model.price_per_inference_unit_hour

    @property
    def orchestration_cost(self) -> float:
        """Step Functions state transitions (zero for policies this application does not orchestrate)."""
        return self.transitions * TRANSITION_PRICE_USD

    def latency(self, quantile: float) -> float:
        """Upload-to-result seconds at `quantile` (nearest rank); NaN when nothing was processed."""
        if not self.latencies:
            return math.nan
        rank = max(1, math.ceil(quantile * len(self.latencies)))
        return self.latencies[rank - 1]
