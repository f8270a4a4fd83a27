"""The local stand-in for EventBridge Scheduler: fires the template's schedules at their rate."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from labelbatch.local.deploy.model import ScheduleSpec

log = logging.getLogger(__name__)

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleError(ValueError):
    pass


def rate_seconds(expression: str) -> int:
    """Seconds between firings of a ``rate(...)`` expression; cron() and at() need an explicit interval."""
    match = _RATE.match(expression.strip())
    if not match:
        raise ScheduleError(
            f"the local scheduler understands rate(...) expressions only, not {expression!r}: "
            "pass --schedule-every SECONDS"
        )
    value, unit = int(match.group(1)), match.group(2).rstrip("s")
    return value * _UNIT_SECONDS[unit]


class LocalScheduler:
    """One timer thread per enabled schedule; each firing calls ``fire`` with the schedule."""

    def __init__(
        self,
        schedules: list[ScheduleSpec],
        fire: Callable[[ScheduleSpec], None],
        every_seconds: float | None = None,
    ) -> None:
        self._fire = fire
        self._stopping = threading.Event()
        self._intervals = {
            schedule.logical_id: every_seconds
            if every_seconds is not None
            else rate_seconds(schedule.expression)
            for schedule in schedules
            if schedule.state == "ENABLED"
        }
        self._schedules = [schedule for schedule in schedules if schedule.logical_id in self._intervals]
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for schedule in self._schedules:
            thread = threading.Thread(
                target=self._run, args=(schedule,), name=f"schedule-{schedule.logical_id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()

    def _run(self, schedule: ScheduleSpec) -> None:
        interval = self._intervals[schedule.logical_id]
        while not self._stopping.wait(interval):
            try:
                self._fire(schedule)
            except Exception:
                # EventBridge Scheduler retries per its policy and moves on; so does this one, loudly.
                log.exception("schedule %s failed to fire", schedule.logical_id)
