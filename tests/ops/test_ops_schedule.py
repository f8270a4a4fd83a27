"""When the batch-run schedule fires next, computed from its expression as Scheduler evaluates it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from labelbatch.ops.schedule import next_fire_time

CREATED = datetime(2026, 11, 22, 9, 17, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "now", "expected"),
    [
        (
            "rate(1 hour)",
            datetime(2026, 11, 22, 9, 17, 29, tzinfo=UTC),
            datetime(2026, 11, 22, 9, 17, 30, tzinfo=UTC),
        ),
        (
            "rate(1 hour)",
            datetime(2026, 11, 22, 12, 0, tzinfo=UTC),
            datetime(2026, 11, 22, 12, 17, 30, tzinfo=UTC),
        ),
        (
            "rate(15 minutes)",
            datetime(2026, 11, 22, 9, 32, 30, tzinfo=UTC),
            datetime(2026, 11, 22, 9, 47, 30, tzinfo=UTC),
        ),
        (
            "rate(2 days)",
            datetime(2026, 11, 23, 0, 0, tzinfo=UTC),
            datetime(2026, 11, 24, 9, 17, 30, tzinfo=UTC),
        ),
    ],
)
def test_a_rate_counts_whole_intervals_from_the_schedule_start(
    expression: str, now: datetime, expected: datetime
) -> None:
    assert next_fire_time(expression, now, anchor=CREATED) == expected


@pytest.mark.parametrize(
    ("expression", "timezone", "now", "expected"),
    [
        # Every hour on the hour.
        (
            "cron(0 * * * ? *)",
            "UTC",
            datetime(2026, 11, 22, 9, 17, tzinfo=UTC),
            datetime(2026, 11, 22, 10, 0, tzinfo=UTC),
        ),
        # 8:30 on weekdays (1 = Sunday): 2026-11-22 is a Sunday, so Monday the 23rd.
        (
            "cron(30 8 ? * MON-FRI *)",
            "UTC",
            datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
            datetime(2026, 11, 23, 8, 30, tzinfo=UTC),
        ),
        (
            "cron(30 8 ? * 2-6 *)",
            "UTC",
            datetime(2026, 11, 22, 9, 0, tzinfo=UTC),
            datetime(2026, 11, 23, 8, 30, tzinfo=UTC),
        ),
        # Every 20 minutes from minute 5.
        (
            "cron(5/20 * * * ? *)",
            "UTC",
            datetime(2026, 11, 22, 9, 26, tzinfo=UTC),
            datetime(2026, 11, 22, 9, 45, tzinfo=UTC),
        ),
        # Noon in Berlin (UTC+1 in November) on the first of the month.
        (
            "cron(0 12 1 * ? *)",
            "Europe/Berlin",
            datetime(2026, 11, 22, 0, 0, tzinfo=UTC),
            datetime(2026, 12, 1, 11, 0, tzinfo=UTC),
        ),
        (
            "cron(0 0 1 JAN ? 2027)",
            "UTC",
            datetime(2026, 11, 22, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
        ),
    ],
)
def test_a_cron_expression_fires_at_its_next_matching_minute(
    expression: str, timezone: str, now: datetime, expected: datetime
) -> None:
    assert next_fire_time(expression, now, anchor=CREATED, timezone=timezone) == expected


def test_a_one_time_schedule_fires_once_then_never() -> None:
    expression = "at(2026-11-22T10:00:00)"

    assert next_fire_time(expression, datetime(2026, 11, 22, 9, tzinfo=UTC), anchor=CREATED) == datetime(
        2026, 11, 22, 10, tzinfo=UTC
    )
    assert next_fire_time(expression, datetime(2026, 11, 22, 11, tzinfo=UTC), anchor=CREATED) is None


@pytest.mark.parametrize("expression", ["cron(0 12 L * ? *)", "cron(0 12 ? * 6#3 *)", "cron(0 12 15W * ? *)"])
def test_cron_features_it_does_not_evaluate_give_no_time_rather_than_a_wrong_one(expression: str) -> None:
    assert next_fire_time(expression, CREATED, anchor=CREATED) is None
