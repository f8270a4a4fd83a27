"""How fast one execution environment may call the model, and how long an invocation may go on starting calls.

A Custom Labels model serves `TpsPerInferenceUnit` calls per second per inference unit and throttles the rest.
Each batch run gives the event source mapping INVOCATIONS_PER_INFERENCE_UNIT concurrent invocations per unit,
and each execution environment paces its calls at its share of one unit: together they keep the model at its
capacity without overrunning it, whatever the number of units. The pace lives at module level, in the
environment, so that the time between two invocations is not lost: the next batch's first call may use it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

# The batch run's sizing (statemachine/batch_run.asl.json, "Two Invocations Per ..." states) doubles the
# inference units: the least concurrency the mapping allows is 2, which one unit must be able to use.
INVOCATIONS_PER_INFERENCE_UNIT: Final = 2

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class RateLimiter:
    """Admits calls at `rate` per second, with a burst of one call after a pause; thread-safe.

    Each call reserves the next free slot; a caller that would have to wait past `deadline` reserves nothing.
    """

    def __init__(self, rate: float, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
        if rate <= 0:
            raise ValueError(f"the rate must be positive, not {rate}")
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = float("-inf")

    @property
    def rate(self) -> float:
        return 1.0 / self._interval

    def acquire(self, deadline: float) -> bool:
        """Wait for a slot; False, without waiting, when the next slot comes after `deadline`."""
        with self._lock:
            now = self._clock()
            # One interval of credit: after a pause two calls may go at once, so that the time an environment
            # spends between batches is not lost; over any second, at most one call more than `rate` goes.
            slot = max(self._next_slot, now - self._interval)
            start = max(slot, now)
            if start > deadline:
                return False
            self._next_slot = slot + self._interval
        if start > now:
            self._sleep(start - now)
        return True


@dataclass(frozen=True, slots=True)
class Deadline:
    """When an invocation starts its last model call, so that it never outlives its timeout."""

    at: float
    """On the clock of the rate limiter (time.monotonic)."""

    @classmethod
    def before_timeout(
        cls, remaining_ms: int, *, margin_seconds: float, clock: Clock = time.monotonic
    ) -> Deadline:
        return cls(at=clock() + remaining_ms / 1000 - margin_seconds)
