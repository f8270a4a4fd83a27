"""EventBridge Scheduler expressions, as far as this project reads them: the period of a `rate(...)`.

Kept apart from the local scheduler so that `labelbatch plan` can read a schedule without importing the
local stack.
"""

from __future__ import annotations

import re

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class ScheduleError(ValueError):
    pass


def rate_seconds(expression: str) -> int:
    """Seconds between firings of a ``rate(...)`` expression; cron() and at() have no single period."""
    match = _RATE.match(expression.strip())
    if not match:
        raise ScheduleError(f"only rate(...) expressions have a period, not {expression!r}")
    value, unit = int(match.group(1)), match.group(2).rstrip("s")
    if value == 0:
        raise ScheduleError(f"a rate must be at least 1, not {expression!r}")
    return value * _UNIT_SECONDS[unit]


def rate_expression(seconds: float) -> str:
    """The ``rate(...)`` expression of a period in whole minutes: rate_seconds' inverse."""
    minutes = round(seconds / 60)
    if minutes < 1 or minutes * 60 != seconds:
        raise ScheduleError(f"a rate needs a whole number of minutes, not {seconds:g} s")
    for unit, size in (("day", 1440), ("hour", 60)):
        if minutes % size == 0:
            count = minutes // size
            return f"rate({count} {unit}{'' if count == 1 else 's'})"
    return f"rate({minutes} minute{'' if minutes == 1 else 's'})"
