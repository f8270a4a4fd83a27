"""What the simulation's shortcuts cost in accuracy: lots of images instead of single images."""

from __future__ import annotations

import pytest

from labelbatch.planning.arrivals import Pattern, generate
from labelbatch.planning.batch_run import BatchRun
from labelbatch.planning.model import Billing, ModelSpec


@pytest.mark.parametrize("pattern", list(Pattern))
def test_lots_barely_move_model_time_or_latency(pattern: Pattern) -> None:
    model = ModelSpec()
    policy = BatchRun(poll_seconds=15, drain_wait_from_backlog=True)
    single = policy.simulate(generate(pattern, 4000, max_lots=120_000), model)
    lots = policy.simulate(generate(pattern, 4000, max_lots=12_000), model)
    assert lots.unit_hours(Billing.RUNNING) == pytest.approx(single.unit_hours(Billing.RUNNING), rel=0.03)
    assert lots.latency(0.95) == pytest.approx(single.latency(0.95), rel=0.03)
