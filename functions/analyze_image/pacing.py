"""How often one execution environment may call the model, and until when an invocation may start calls.

A Custom Labels model serves a whole number T of DetectCustomLabels calls a second per inference unit
(TpsPerInferenceUnit) and throttles the rest. Execution environments cannot see each other, so their calls
fall at unrelated moments. They share a model of U units without a refusal when each starts at most one call a
second and there are at most T x U of them: when any call arrives, each other environment has started at most
one call in the second before it, and this one none, so the model has admitted at most T x U - 1 calls in that
second. An environment that paced at a fraction of a unit instead (T / 2 calls a second, say) has no such
bound: two or three of its calls fall in one second, and whether the model refuses depends on where the
others' fell (on a model that admits T calls in any second, about one call in six was refused that way;
docs/PERFORMANCE.md).

So each environment starts its calls CALL_INTERVAL_SECONDS apart, never closer, not even after a pause, and
the batch run gives the consumer T x U concurrent invocations ("Invocations For Inference Units" in
statemachine/batch_run.asl.json). The pace lives at module level, in the environment, so that it holds across
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
Sleep = Callable[[float], None]


class CallPacer:
    """Starts calls at least `interval` seconds apart; thread-safe.

    Each call reserves the next free slot; a caller that would have to wait past `deadline` reserves nothing.
    """

    def __init__(
        self,
        interval: float = CALL_INTERVAL_SECONDS,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"the interval must be positive, not {interval}")
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = float("-inf")

    def acquire(self, deadline: float) -> bool:
        """Wait for a slot; False, without waiting, when the next slot comes after `deadline`."""
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
    """When an invocation starts its last model call, so that it never outlives its timeout."""

    at: float
    """On the clock of the pacer (time.monotonic)."""

    @classmethod
    def before_timeout(
        cls, remaining_ms: int, *, margin_seconds: float, clock: Clock = time.monotonic
    ) -> Deadline:
        return cls(at=clock() + remaining_ms / 1000 - margin_seconds)
