"""Times as the operations layer answers them: aware datetimes inside, ISO-8601 UTC strings outside."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def iso(moment: datetime) -> str:
    """2026-11-22T10:00:41Z (UTC, to the second)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """An ISO-8601 time; one without an offset is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_when(text: str, now: datetime) -> datetime:
    """WHEN as the commands take it: ISO-8601 (2026-11-22T10:00Z; UTC unless an offset is given) or a duration
    back from now (30m, 1h, 2d; also s and w). ValueError with a sentence otherwise."""
    match = _DURATION.match(text.strip().lower())
    if match:
        return now - timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})
    try:
        return parse_iso(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: give ISO-8601 (2026-11-22T10:00Z) or a duration back from now "
            "(30m, 1h, 2d)."
        ) from None


def seconds_between(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds(), 1)
