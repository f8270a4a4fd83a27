"""The upload patterns: seeded, exact monthly totals, and each pattern's shape."""

from __future__ import annotations

import pytest

from labelbatch.planning.arrivals import DAY_SECONDS, HOUR_SECONDS, MONTH_DAYS, Pattern, generate, is_weekday


@pytest.mark.parametrize("pattern", list(Pattern))
def test_the_same_seed_gives_the_same_month(pattern: Pattern) -> None:
    assert generate(pattern, 2000, seed=3).times == generate(pattern, 2000, seed=3).times
    assert generate(pattern, 2000, seed=3).times != generate(pattern, 2000, seed=4).times


@pytest.mark.parametrize("pattern", list(Pattern))
def test_every_pattern_uploads_the_same_month_of_images(pattern: Pattern) -> None:
    arrivals = generate(pattern, 1500)
    assert arrivals.weight == 1
    assert arrivals.images == pytest.approx(1500 * MONTH_DAYS, abs=1)
    assert arrivals.times == sorted(arrivals.times)
    assert arrivals.times[0] >= 0
    assert arrivals.times[-1] < arrivals.horizon == MONTH_DAYS * DAY_SECONDS


@pytest.mark.parametrize("pattern", list(Pattern))
def test_a_busy_month_moves_in_lots(pattern: Pattern) -> None:
    arrivals = generate(pattern, 100_000, max_lots=50_000)
    assert arrivals.weight == 60
    assert len(arrivals.times) <= 50_000
    assert arrivals.images == pytest.approx(100_000 * MONTH_DAYS, rel=1e-3)


def test_business_hours_uploads_only_on_weekdays_between_nine_and_five() -> None:
    arrivals = generate(Pattern.BUSINESS_HOURS, 5000)
    assert all(is_weekday(t) for t in arrivals.times)
    hours = [(t % DAY_SECONDS) / HOUR_SECONDS for t in arrivals.times]
    # A burst that starts just before 17:00 finishes uploading a few minutes later.
    assert min(hours) >= 9
    assert max(hours) < 17.5


def test_the_daily_drop_lands_between_half_past_one_and_a_quarter_to_three() -> None:
    arrivals = generate(Pattern.DAILY_DROP, 5000)
    days = {int(t // DAY_SECONDS) for t in arrivals.times}
    assert days == set(range(MONTH_DAYS))
    hours = [(t % DAY_SECONDS) / HOUR_SECONDS for t in arrivals.times]
    # Each drop starts between 01:30 and 02:30 and takes 10 minutes to upload.
    assert min(hours) >= 1.5
    assert max(hours) <= 2.5 + 10 / 60


def test_a_trickle_arrives_around_the_clock() -> None:
    arrivals = generate(Pattern.TRICKLE, 24 * 50)
    per_hour = [0] * 24
    for t in arrivals.times:
        per_hour[int((t % DAY_SECONDS) // HOUR_SECONDS)] += 1
    # 50 an hour on average over 30 days: 1,500 per hour of the day, give or take Poisson noise (sd 39).
    assert all(1350 < count < 1650 for count in per_hour)
