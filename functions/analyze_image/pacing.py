"""How often one execution environment may call the model, and until when an invocation may start calls.

A Custom Labels model serves T calls a second per inference unit and throttles the rest. Environments cannot
see each other, so their calls fall at unrelated moments. Still, when each of at most T x U environments
starts at most one call a second (the batch run's "Record Model Running"), U units refuse none:
when any call arrives, each other environment has started at most one call in the second before it, and this
one none, so at most T x U - 1 calls came first. Pacing at a fraction of a unit has no such bound (about one
call in six was refused that way, docs/PERFORMANCE.md). The pace lives at module level so that it holds across
the environment's invocations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

# One second, and 2% more for the calls' travel: two calls started 1.02 s apart reach the model more than a
# second apart unless their network delays differ by more than 20 ms.
CALL_INTERVAL_SECONDS: Final = 1.02

Clock = Callable[[], float]


class CallPacer:
    """Starts calls at least `interval` seconds apart, never closer, not even after a pause; thread-safe."""

    def __init__(
        self,
        interval: float = CALL_INTERVAL_SECONDS,
        *,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"the interval must be positive, not {interval}")
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = float("-inf")

    def acquire(self, deadline: float) -> bool:
        """Wait for the next free slot; False, reserving nothing, when it comes after `deadline`."""
        with self._lock:
            now = self._clock()
            start = max(self._next_slot, now)
            if start > deadline:
                return False
            self._next_slot = start + self.interval
        if start > now:
            self._sleep(start - now)
        return True


@dataclass(frozen=True, slots=True)
class Deadline:
    """When an invocation starts its last model call (on the pacer's clock), so that it never outlives its
    timeout."""

    at: float

    @classmethod
    def before_timeout(
        cls, remaining_ms: int, *, margin_seconds: float, clock: Clock = time.monotonic
    ) -> Deadline:
        return cls(at=clock() + remaining_ms / 1000 - margin_seconds)
