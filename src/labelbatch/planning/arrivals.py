"""Upload patterns over a month, seeded and deterministic.

Times are seconds from Monday 00:00 of the simulated month, in the time zone the uploaders and the schedule
share. A month is 30 days (four weeks and a Monday and Tuesday: 22 weekdays). `images_per_day` is the average
over every calendar day, so that each pattern uploads the same 30 x N images a month and has the same floor.

A month of a busy pattern holds millions of images; the simulation moves them in lots of `weight` images,
so that a month stays a fraction of a second whatever N is. A lot spans (`starts[i]`, `times[i]`]: its last
image arrives at `times[i]`, the others within the span. A burst's lot is its share of the upload, images
evenly spaced. A trickle's lot spans the time since the previous lot: lot ends are every `weight`-th point
of a Poisson process and the other images fall uniformly between (drawn, seeded, only when a reading looks
inside a lot), which is a Poisson process again. The queue serves whole lots as a fluid and reads a partly
arrived lot image by image, so lots change neither how often a reading finds the queue empty nor model
time (tests hold them within a few percent of single images).
"""

from __future__ import annotations

import enum
import itertools
import math
import random
from dataclasses import dataclass

DAY_SECONDS = 86_400
HOUR_SECONDS = 3_600
MONTH_DAYS = 30
# Lots per simulated month above which images are grouped (see the module docstring).
DEFAULT_MAX_LOTS = 50_000


class Pattern(enum.StrEnum):
    TRICKLE = "trickle"
    BUSINESS_HOURS = "business-hours"
    DAILY_DROP = "daily-drop"


@dataclass(frozen=True)
class PatternShape:
    """What each pattern looks like beyond its volume; the defaults are what the tables use."""

    business_open_hour: float = 9.0
    business_close_hour: float = 17.0
    bursts_per_business_hour: float = 2.0
    # A person or a job uploading a folder: images of one burst arrive this fast.
    burst_upload_images_per_second: float = 10.0
    # The nightly export lands between 01:30 and 02:30 and takes this long to upload.
    drop_earliest_hour: float = 1.5
    drop_window_hours: float = 1.0
    drop_upload_minutes: float = 10.0


@dataclass(frozen=True)
class Arrivals:
    """Lots of `weight` images each, sorted, all within [0, horizon): `times` when each lot's last image is
    uploaded, `starts` when its span begins. `random_within`: the lot's other images fall at seeded uniform
    times within the span (a trickle); otherwise evenly, the first one `weight`-th of the span after it."""

    pattern: Pattern
    times: list[float]
    starts: list[float]
    weight: int
    horizon: float
    random_within: bool = False
    seed: int = 1

    @classmethod
    def single_images(
        cls, times: list[float], horizon: float, pattern: Pattern = Pattern.TRICKLE
    ) -> Arrivals:
        """One image per lot, each arriving at its time (hand-made months for tests and calibration)."""
        ordered = sorted(times)
        return cls(pattern=pattern, times=ordered, starts=list(ordered), weight=1, horizon=horizon)

    @property
    def images(self) -> int:
        return len(self.times) * self.weight

    def lot_images(self, index: int) -> list[float]:
        """Upload times of lot `index`'s images, sorted; the last one is `times[index]`."""
        start, last = self.starts[index], self.times[index]
        if not self.random_within:
            spacing = (last - start) / self.weight
            return [start + k * spacing for k in range(1, self.weight)] + [last]
        # Not for security: the same lot always gets the same times (an integer seed is quick to set).
        draw = random.Random(self.seed * 100_000_007 + index).random  # noqa: S311
        span = last - start
        return [*sorted([start + span * draw() for _ in range(self.weight - 1)]), last]


def is_weekday(t: float) -> bool:
    return int(t // DAY_SECONDS) % 7 < 5


def clock_text(hour: float) -> str:
    """An hour of the day as HH:MM."""
    return f"{int(hour):02d}:{round((hour % 1) * 60):02d}"


def generate(
    pattern: Pattern,
    images_per_day: float,
    *,
    days: int = MONTH_DAYS,
    seed: int = 1,
    max_lots: int = DEFAULT_MAX_LOTS,
    shape: PatternShape | None = None,
) -> Arrivals:
    """A month (or `days`) of uploads; the same arguments always give the same times."""
    if images_per_day <= 0:
        raise ValueError(f"images_per_day must be positive, not {images_per_day}")
    shape = shape or PatternShape()
    total = max(1, round(images_per_day * days))
    weight = max(1, math.ceil(total / max_lots))
    # Not for security: a seeded generator makes every table reproducible.
    rng = random.Random(f"{pattern.value}/{seed}")  # noqa: S311
    horizon = float(days * DAY_SECONDS)
    if pattern is Pattern.TRICKLE:
        times, starts = _trickle(rng, total // weight, weight, horizon)
    elif pattern is Pattern.BUSINESS_HOURS:
        times, starts = _business_hours(rng, total, weight, days, shape)
    else:
        times, starts = _daily_drop(rng, total, weight, days, shape)
    return Arrivals(
        pattern=pattern,
        times=times,
        starts=starts,
        weight=weight,
        horizon=horizon,
        random_within=pattern is Pattern.TRICKLE,
        seed=seed,
    )


Lots = tuple[list[float], list[float]]
"""(times, starts) of a pattern's lots."""


def _trickle(rng: random.Random, lots: int, weight: int, horizon: float) -> Lots:
    # Every weight-th point of a Poisson process conditioned on its count: gamma(weight) gaps, and a last
    # exponential gap to the end of the month, scaled to the month.
    gaps = [rng.gammavariate(weight, 1.0) for _ in range(lots)]
    scale = horizon / (sum(gaps) + rng.expovariate(1.0))
    times = list(itertools.accumulate(gap * scale for gap in gaps))
    return times, [0.0, *times[:-1]]


def _business_hours(rng: random.Random, total: int, weight: int, days: int, shape: PatternShape) -> Lots:
    weekdays = [day for day in range(days) if day % 7 < 5]
    bursts_per_day = max(1, round(shape.bursts_per_business_hour * _open_hours(shape)))
    # Burst sizes vary (exponential shares of the day's images); the month's total is exact.
    shares = [rng.expovariate(1.0) for _ in range(len(weekdays) * bursts_per_day)]
    scale = total / sum(shares)
    opens = shape.business_open_hour * HOUR_SECONDS
    length = _open_hours(shape) * HOUR_SECONDS
    bursts: list[float] = []
    for day in weekdays:
        offsets = sorted(rng.uniform(0.0, length) for _ in range(bursts_per_day))
        bursts.extend(day * DAY_SECONDS + opens + offset for offset in offsets)
    return _lots_of_bursts(bursts, [share * scale for share in shares], weight, shape)


def _daily_drop(rng: random.Random, total: int, weight: int, days: int, shape: PatternShape) -> Lots:
    per_day = total / days
    upload_seconds = shape.drop_upload_minutes * 60
    rate = per_day / upload_seconds if upload_seconds > 0 else math.inf
    drops = [
        day * DAY_SECONDS
        + (shape.drop_earliest_hour + rng.uniform(0.0, shape.drop_window_hours)) * HOUR_SECONDS
        for day in range(days)
    ]
    custom = PatternShape(burst_upload_images_per_second=rate)
    return _lots_of_bursts(drops, [per_day] * days, weight, custom)


def _lots_of_bursts(bursts: list[float], sizes: list[float], weight: int, shape: PatternShape) -> Lots:
    """Each burst uploads its images evenly at its rate, in lots of `weight` images carried across bursts."""
    rate = shape.burst_upload_images_per_second
    spacing = weight / rate if math.isfinite(rate) else 0.0
    lots: list[tuple[float, float]] = []
    carried = 0.0
    for burst, size in zip(bursts, sizes, strict=True):
        carried += size
        count = int(carried // weight)
        carried -= count * weight
        lots.extend((burst + (index + 1) * spacing, burst + index * spacing) for index in range(count))
    lots.sort()
    return [time for time, _ in lots], [start for _, start in lots]


def _open_hours(shape: PatternShape) -> float:
    return shape.business_close_hour - shape.business_open_hour
