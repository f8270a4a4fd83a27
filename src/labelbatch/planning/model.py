"""The Custom Labels model as the simulation sees it: its start time, how fast it serves, its price."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

# Step Functions standard workflows, per state transition (us-east-1 list price).
TRANSITION_PRICE_USD = 0.025 / 1000
# Custom Labels, per inference-unit hour (us-east-1 list price; other regions differ).
INFERENCE_UNIT_HOUR_PRICE_USD = 4.0


class Billing(enum.StrEnum):
    """AWS documents billing for the time a model runs; whether STARTING counts is not stated."""

    RUNNING = "running"
    RUNNING_AND_STARTING = "running+starting"


@dataclass(frozen=True)
class ModelSpec:
    """One model version. Capacity is `tps_per_inference_unit` images a second per inference unit.

    Each start takes a time drawn uniformly from [start - spread, start + spread] (AWS quotes 10-20 minutes:
    15 +- 5 by default), so that the poll that sees RUNNING lands anywhere in its interval, as it does on AWS.
    Stopping takes `stop_seconds` (never billed); a start has to wait for it to end.
    """

    tps_per_inference_unit: float = 5.0
    in_flight_seconds: float = 1.0
    """From the consumer's receive to an image's result (its batch analyzed, results written, messages
    deleted): how long a reading still counts it. Never less than 1 / capacity."""
    start_seconds: float = 15 * 60
    start_spread_seconds: float = 5 * 60
    stop_seconds: float = 0.0
    price_per_inference_unit_hour: float = INFERENCE_UNIT_HOUR_PRICE_USD

    def __post_init__(self) -> None:
        if self.tps_per_inference_unit <= 0:
            raise ValueError("tps_per_inference_unit must be positive")
        if not 0 <= self.start_spread_seconds <= self.start_seconds:
            raise ValueError("start_spread_seconds must be between 0 and start_seconds")
        if self.stop_seconds < 0 or self.price_per_inference_unit_hour < 0 or self.in_flight_seconds < 0:
            raise ValueError("stop_seconds, in_flight_seconds and the price must not be negative")

    def capacity(self, inference_units: int) -> float:
        """Images a second the model serves with `inference_units`."""
        return self.tps_per_inference_unit * inference_units

    def start_durations(self, seed: int) -> StartDurations:
        return StartDurations(self, seed)


class StartDurations:
    """The duration of each successive start of one simulated month (seeded)."""

    def __init__(self, model: ModelSpec, seed: int) -> None:
        self._model = model
        # Not for security: seeded so that every table is reproducible.
        self._random = random.Random(f"starts/{seed}")  # noqa: S311

    def next(self) -> float:
        spread = self._model.start_spread_seconds
        return self._model.start_seconds + (self._random.uniform(-spread, spread) if spread else 0.0)
