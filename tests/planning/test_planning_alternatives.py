"""The policies people use instead, in the simulation: exact figures on small hand-checked months."""

from __future__ import annotations

import pytest

from labelbatch.planning.alternatives import AlwaysOn, BusinessWindow, ReferenceSample
from labelbatch.planning.arrivals import DAY_SECONDS, HOUR_SECONDS, Arrivals
from labelbatch.planning.model import Billing, ModelSpec

# In flight only while analyzed (1 / C): results at 0.2 s.
MODEL = ModelSpec(
    tps_per_inference_unit=5.0, in_flight_seconds=0.0, start_seconds=600.0, start_spread_seconds=0.0
)
WEEK = 7 * DAY_SECONDS


def uploads(*times: float, horizon: float = WEEK) -> Arrivals:
    return Arrivals.single_images(list(times), horizon)


def test_always_on_bills_the_whole_month_and_answers_at_once() -> None:
    outcome = AlwaysOn(inference_units=2).simulate(uploads(1.0, 2.0), MODEL)
    assert outcome.running_unit_seconds == pytest.approx(2 * WEEK)
    assert outcome.starting_unit_seconds == 0.0
    # Two units serve 10 images a second.
    assert outcome.latencies == pytest.approx((0.1, 0.1))


def test_the_window_serves_at_opening_and_runs_eight_hours_each_weekday() -> None:
    monday_8am = 8 * HOUR_SECONDS
    saturday_noon = 5 * DAY_SECONDS + 12 * HOUR_SECONDS
    outcome = BusinessWindow().simulate(uploads(monday_8am, saturday_noon, horizon=WEEK), MODEL)
    # Monday 09:00 serves the first; the Saturday image waits for the next Monday's opening.
    next_monday_9am = WEEK + 9 * HOUR_SECONDS
    assert outcome.latencies == pytest.approx((HOUR_SECONDS + 0.2, next_monday_9am + 0.2 - saturday_noon))
    assert outcome.running_seconds == pytest.approx(5 * 8 * HOUR_SECONDS)
    # Each of the five weekdays in the week starts the model ahead of opening.
    assert outcome.unit_hours(Billing.RUNNING_AND_STARTING) == pytest.approx(5 * (8 + 600 / 3600))


def test_the_reference_sample_keeps_the_model_an_hour_past_its_first_check() -> None:
    outcome = ReferenceSample().simulate(uploads(1.0), MODEL)
    # The 01:00 check starts the model (RUNNING at 01:10), the 01:15 check enables the trigger, the image is
    # analyzed at once, and the model runs until the check 59 minutes later (02:14) reads zero.
    assert outcome.runs == 1
    assert outcome.latencies == pytest.approx((4500 + 0.2 - 1.0,))
    assert outcome.running_seconds == pytest.approx(4500 + 3540 - 4200)


def test_the_reference_sample_checks_the_start_every_15_minutes() -> None:
    slow_start = ModelSpec(start_seconds=1000.0, start_spread_seconds=0.0, in_flight_seconds=0.0)
    outcome = ReferenceSample().simulate(uploads(1.0), slow_start)
    # RUNNING at 1,000 s after the start is seen by the second check, at 1,800 s.
    assert outcome.latencies == pytest.approx((3600 + 1800 + 0.2 - 1.0,))


def test_the_reference_sample_keeps_going_while_messages_are_visible() -> None:
    # A drop of 20,000 images takes 4,000 s at 5/s: the first 59-minute check still sees visible messages.
    outcome = ReferenceSample().simulate(uploads(*([1.0] * 20_000)), MODEL)
    assert outcome.runs == 1
    assert outcome.running_seconds == pytest.approx(4500 + 2 * 3540 - 4200)


def test_the_reference_sample_ignores_messages_already_in_flight() -> None:
    # Its check reads ApproximateNumberOfMessages only: an image being analyzed at the check does not count.
    reading = 4500 + 3540
    outcome = ReferenceSample().simulate(uploads(1.0, reading - 0.1), MODEL)
    assert outcome.runs == 1
    assert outcome.running_seconds == pytest.approx(reading - 4200)
