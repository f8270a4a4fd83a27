"""Model time, billing assumptions and latency percentiles of one outcome."""

from __future__ import annotations

import math

import pytest

from labelbatch.planning.meter import Meter, Outcome
from labelbatch.planning.model import Billing, ModelSpec


def test_time_outside_the_month_is_not_counted() -> None:
    meter = Meter(horizon=100.0)
    meter.starting(-30.0, 10.0, units=2)
    meter.running(10.0, 150.0, units=2)
    assert meter.starting_unit_seconds == pytest.approx(20.0)
    assert meter.running_unit_seconds == pytest.approx(180.0)
    assert meter.running_seconds == pytest.approx(90.0)


def test_costs_under_each_billing_assumption() -> None:
    meter = Meter(horizon=10_000.0)
    meter.starting(0.0, 900.0, units=1)
    meter.running(900.0, 4500.0, units=1)
    outcome = Outcome.of("p", 10, meter, [], 0)
    model = ModelSpec(price_per_inference_unit_hour=4.0)
    assert outcome.model_cost(Billing.RUNNING, model) == pytest.approx(4.0)
    assert outcome.model_cost(Billing.RUNNING_AND_STARTING, model) == pytest.approx(5.0)


def test_latency_quantiles_take_the_nearest_rank() -> None:
    outcome = Outcome.of("p", 20, Meter(1.0), [float(n) for n in range(20, 0, -1)], 0)
    assert outcome.latency(0.5) == 10.0
    assert outcome.latency(0.95) == 19.0
    assert outcome.latency(1.0) == 20.0
    assert math.isnan(Outcome.of("p", 0, Meter(1.0), [], 0).latency(0.95))


def test_starts_vary_around_the_typical_start_within_the_spread() -> None:
    durations = ModelSpec(start_seconds=900.0, start_spread_seconds=300.0).start_durations(seed=1)
    drawn = [durations.next() for _ in range(1000)]
    assert 600.0 <= min(drawn) < 620.0
    assert 1180.0 < max(drawn) <= 1200.0
    fixed = ModelSpec(start_seconds=60.0, start_spread_seconds=0.0).start_durations(seed=1)
    assert {fixed.next() for _ in range(10)} == {60.0}
