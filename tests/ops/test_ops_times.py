"""WHEN as `results --since` and `annotate --since` take it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from labelbatch.ops.times import parse_when

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("1h", NOW - timedelta(hours=1)),
        ("2d", NOW - timedelta(days=2)),
        ("45s", NOW - timedelta(seconds=45)),
        ("2026-11-22T08:15:00Z", datetime(2026, 11, 22, 8, 15, tzinfo=UTC)),
        ("2026-11-22T09:15+01:00", datetime(2026, 11, 22, 9, 15, tzinfo=timezone(timedelta(hours=1)))),
        # Without an offset, UTC.
        ("2026-11-22T08:15", datetime(2026, 11, 22, 8, 15, tzinfo=UTC)),
        ("2026-11-21", datetime(2026, 11, 21, tzinfo=UTC)),
    ],
)
def test_when_is_iso_8601_or_a_duration_back_from_now(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "1y", "-5m", ""])
def test_anything_else_is_refused_with_the_forms_it_takes(text: str) -> None:
    with pytest.raises(ValueError, match=r"give ISO-8601 \(2026-11-22T10:00Z\) or a duration back from now"):
        parse_when(text, NOW)
