"""The batch-run schedule (EventBridge Scheduler): its state and when it fires next.

Scheduler does not report a next fire time, so it is computed from the expression: exactly for cron() and
at(); for rate() from the schedule's start (its StartDate, else its creation), which is when Scheduler
counts its intervals from. Scheduler fires within the minute (60-second precision).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from labelbatch.ops.target import Stack
from labelbatch.ops.times import iso
from labelbatch.schedule_expression import ScheduleError, rate_seconds

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_MONTHS = {
    name: index
    for index, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
# AWS cron counts days of the week from 1 = Sunday.
_WEEKDAYS = {name: index for index, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
# How far ahead a cron expression is searched for its next time.
_CRON_HORIZON_DAYS = 5 * 366


class ScheduleState(TypedDict):
    name: str
    state: str
    expression: str
    timezone: str
    nextFireAt: str | None
    """None when disabled, finished, or for cron expressions using L, W or # (not computed)."""


def batch_run_schedule(stack: Stack, now: datetime) -> ScheduleState | None:
    """The schedule that starts the state machine, or None when there is none."""
    scheduler = stack.client("scheduler")
    state_machine_arn = stack.outputs["StateMachineArn"]
    for page in scheduler.get_paginator("list_schedules").paginate():
        for summary in page.get("Schedules", []):
            if summary.get("Target", {}).get("Arn") != state_machine_arn:
                continue
            schedule = scheduler.get_schedule(
                Name=summary["Name"], GroupName=summary.get("GroupName", "default")
            )
            return _state(schedule, now)
    return None


def _state(schedule: dict[str, Any], now: datetime) -> ScheduleState:
    timezone = schedule.get("ScheduleExpressionTimezone") or "UTC"
    expression = str(schedule["ScheduleExpression"])
    next_fire = None
    if schedule.get("State") == "ENABLED":
        anchor = schedule.get("StartDate") or schedule.get("CreationDate") or now
        next_fire = next_fire_time(expression, now, anchor=anchor, timezone=timezone)
        end = schedule.get("EndDate")
        if next_fire is not None and end is not None and next_fire > end:
            next_fire = None
    return ScheduleState(
        name=str(schedule["Name"]),
        state=str(schedule.get("State", "ENABLED")),
        expression=expression,
        timezone=timezone,
        nextFireAt=iso(next_fire) if next_fire else None,
    )


def next_fire_time(
    expression: str, now: datetime, *, anchor: datetime, timezone: str = "UTC"
) -> datetime | None:
    """The first time after `now` that `expression` fires; None when it never will or is not computed."""
    expression = expression.strip()
    if match := _AT.match(expression):
        moment = datetime.fromisoformat(match.group(1)).replace(tzinfo=ZoneInfo(timezone))
        return moment if moment > now else None
    if match := _CRON.match(expression):
        return _next_cron(match.group(1).split(), now, ZoneInfo(timezone))
    try:
        interval = rate_seconds(expression)
    except ScheduleError:
        return None
    if now < anchor:
        return anchor
    intervals = int((now - anchor).total_seconds() // interval) + 1
    return anchor + timedelta(seconds=intervals * interval)


def _next_cron(fields: list[str], now: datetime, zone: ZoneInfo) -> datetime | None:
    if len(fields) != 6 or any(mark in "".join(fields) for mark in ("L", "W", "#")):
        return None
    minutes = _values(fields[0], 0, 59, {})
    hours = _values(fields[1], 0, 23, {})
    days = None if fields[2] == "?" else _values(fields[2], 1, 31, {})
    months = _values(fields[3], 1, 12, _MONTHS)
    weekdays = None if fields[4] == "?" else _values(fields[4], 1, 7, _WEEKDAYS)
    years = _values(fields[5], 1970, 2199, {})
    local_now = now.astimezone(zone)
    for offset in range(_CRON_HORIZON_DAYS):
        day = local_now.date() + timedelta(days=offset)
        if day.year not in years or day.month not in months:
            continue
        if days is not None and day.day not in days:
            continue
        # Python counts Monday as 0; AWS cron counts Sunday as 1.
        if weekdays is not None and (day.weekday() + 1) % 7 + 1 not in weekdays:
            continue
        for hour in sorted(hours):
            for minute in sorted(minutes):
                moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                if moment > local_now:
                    return moment.astimezone(UTC)
    return None


def _values(field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for part in field.upper().split(","):
        values.update(_part_values(part, low, high, names))
    return values


def _part_values(part: str, low: int, high: int, names: dict[str, int]) -> Iterable[int]:
    base, _, step_text = part.partition("/")
    step = int(step_text) if step_text else 1
    if base in ("*", "?"):
        start, end = low, high
    elif "-" in base:
        first, last = base.split("-", 1)
        start, end = _number(first, names), _number(last, names)
    else:
        start = _number(base, names)
        end = high if step_text else start
    return range(start, end + 1, step)


def _number(text: str, names: dict[str, int]) -> int:
    return names[text] if text in names else int(text)
