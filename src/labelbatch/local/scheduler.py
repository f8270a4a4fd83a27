"""The local stand-in for EventBridge Scheduler: fires the template's schedules at their rate."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from labelbatch.local.deploy.model import ScheduleSpec
from labelbatch.schedule_expression import ScheduleError, rate_seconds

log = logging.getLogger(__name__)


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
            else _interval_seconds(schedule.expression)
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


def _interval_seconds(expression: str) -> int:
    try:
        return rate_seconds(expression)
    except ScheduleError as exc:
        raise ScheduleError(
            f"the local scheduler cannot fire it: {exc}; pass --schedule-every SECONDS"
        ) from exc
