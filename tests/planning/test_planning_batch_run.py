"""This application's runs in the simulation: exact model time and latency on small hand-checked months."""

from __future__ import annotations

import pytest

from labelbatch.planning.arrivals import DAY_SECONDS, Arrivals
from labelbatch.planning.batch_run import BacklogTrigger, BatchRun
from labelbatch.planning.meter import Outcome
from labelbatch.planning.model import Billing, ModelSpec

# A start of exactly 10 minutes, 5 images a second per unit: every figure below can be worked out by hand.
# In flight only while analyzed (1 / C): results at 0.2 s.
MODEL = ModelSpec(
    tps_per_inference_unit=5.0, in_flight_seconds=0.0, start_seconds=600.0, start_spread_seconds=0.0
)
# The hand-worked figures below use one-minute polls.
HOURLY = BatchRun(poll_seconds=60)


def uploads(*times: float, horizon: float = DAY_SECONDS) -> Arrivals:
    return Arrivals.single_images(list(times), horizon)


def month(policy: BatchRun, arrivals: Arrivals, model: ModelSpec = MODEL) -> Outcome:
    return policy.simulate(arrivals, model)


def test_one_image_waits_for_the_tick_the_start_and_one_poll() -> None:
    # Given one image uploaded a second after the 00:00 tick
    # When the hourly schedule runs the pipeline
    outcome = month(HOURLY, uploads(1.0))
    # Then the 01:00 run starts the model (RUNNING at 01:10, seen by the 10th poll), the consumer takes the
    # image at once (0.2 s) and the first drain reading, a poll interval later, finds nothing: 60 s RUNNING.
    assert outcome.runs == 1
    assert outcome.starts == 1
    assert outcome.running_seconds == pytest.approx(60.0)
    assert outcome.starting_unit_seconds == pytest.approx(600.0)
    assert outcome.latencies == pytest.approx((3600 + 600 + 0.2 - 1.0,))
    assert outcome.unit_hours(Billing.RUNNING) == pytest.approx(60 / 3600)
    assert outcome.unit_hours(Billing.RUNNING_AND_STARTING) == pytest.approx(660 / 3600)


def test_two_empty_readings_cost_one_more_poll_interval() -> None:
    # The drain before issue 7 needed two empty readings in a row.
    outcome = month(BatchRun(poll_seconds=60, empty_readings_to_end=2), uploads(1.0))
    assert outcome.running_seconds == pytest.approx(120.0)


def test_the_poll_that_sees_running_comes_up_to_one_interval_late() -> None:
    # A 630 s start is seen by the 11th poll (660 s): 30 s RUNNING before the consumer is on.
    outcome = month(
        HOURLY, uploads(1.0), ModelSpec(start_seconds=630.0, start_spread_seconds=0.0, in_flight_seconds=0.0)
    )
    assert outcome.running_seconds == pytest.approx(30.0 + 60.0)
    assert outcome.latencies == pytest.approx((3600 + 660 + 0.2 - 1.0,))


def test_a_backlog_drains_at_capacity_and_ends_at_the_next_reading() -> None:
    # 1,000 images at 5/s take 200 s: readings at 60, 120 and 180 s find images waiting, at 240 s none.
    outcome = month(HOURLY, uploads(*([1.0] * 1000)))
    assert outcome.running_seconds == pytest.approx(240.0)
    assert outcome.latencies[-1] == pytest.approx(3600 + 600 + 200 - 1.0)
    assert outcome.latency(0.95) == pytest.approx(3600 + 600 + 950 * 0.2 - 1.0)


def test_the_drain_can_wait_as_long_as_its_backlog_needs() -> None:
    # The first reading waits 1,000 / 5 = 200 s instead of polling every 60 s, and finds the queue empty.
    outcome = month(BatchRun(poll_seconds=60, drain_wait_from_backlog=True), uploads(*([1.0] * 1000)))
    assert outcome.running_seconds == pytest.approx(200.0)
    assert (
        outcome.transitions
        == HOURLY.transitions.idle_run
        + (HOURLY.transitions.run + 10 * HOURLY.transitions.start_poll + 1 * HOURLY.transitions.drain_poll)
        + HOURLY.transitions.idle_run * 22
    )


def test_an_upload_during_the_drain_is_processed_in_the_same_run() -> None:
    outcome = month(HOURLY, uploads(1.0, 4230.0))
    assert outcome.runs == 1
    assert outcome.latencies == pytest.approx((0.2, 4199.2))
    assert outcome.running_seconds == pytest.approx(60.0)


def test_an_upload_after_the_drain_waits_for_the_next_tick() -> None:
    outcome = month(HOURLY, uploads(1.0, 4300.0))
    assert outcome.runs == 2
    assert outcome.latencies == pytest.approx((7200 + 600 + 0.2 - 4300.0, 4199.2))
    assert outcome.running_seconds == pytest.approx(120.0)


def test_ticks_during_a_run_are_skipped() -> None:
    # 20,000 images take 4,000 s: the 02:00 tick falls inside the 01:00 run, which drains everything.
    outcome = month(HOURLY, uploads(*([1.0] * 20_000)))
    assert outcome.runs == 1
    # The drain ends at the first reading after 4,000 s of work, at 4,020 s.
    assert outcome.running_seconds == pytest.approx(4020.0)


def test_a_start_the_run_cannot_wait_for_fails_and_leaves_the_images() -> None:
    outcome = month(
        BatchRun(poll_seconds=60, model_start_timeout_seconds=300),
        uploads(1.0),
        ModelSpec(start_seconds=600, start_spread_seconds=0, in_flight_seconds=0.0),
    )
    assert outcome.failed_runs == outcome.runs
    assert outcome.running_seconds == 0.0
    assert outcome.latencies == ()
    assert outcome.unprocessed_images == 1


def test_a_drain_longer_than_the_run_allows_times_out() -> None:
    outcome = month(BatchRun(poll_seconds=60, max_run_seconds=120), uploads(*([1.0] * 1000)))
    # The first run stops after two readings (120 s, 600 images); the next tick's run drains the rest.
    assert outcome.runs == 2
    assert outcome.failed_runs == 1
    assert outcome.running_seconds == pytest.approx(120.0 + 120.0)
    assert outcome.unprocessed_images == 0


def test_a_model_still_stopping_delays_the_next_start() -> None:
    # The first run stops the model at 4,260 s; the stop takes 3,000 s, so the 7,200 s run polls until 7,260 s
    # (the model is STOPPED at 7,260 s) and only then starts it.
    slow_stop = ModelSpec(start_seconds=600, start_spread_seconds=0, stop_seconds=3000, in_flight_seconds=0.0)
    outcome = month(HOURLY, uploads(1.0, 4300.0), slow_stop)
    assert outcome.latencies[0] == pytest.approx(7260 + 600 + 0.2 - 4300.0)


def test_a_backlog_trigger_starts_a_run_before_the_tick() -> None:
    policy = BatchRun(trigger=BacklogTrigger(check_seconds=300, min_images=10))
    outcome = month(policy, uploads(*([100.0] * 10)))
    # The 300 s check finds 10 images waiting; the run is RUNNING at 900 s.
    assert outcome.runs == 1
    assert outcome.latencies[0] == pytest.approx(900 + 0.2 - 100.0)


def test_a_backlog_below_the_trigger_waits_for_the_tick() -> None:
    policy = BatchRun(trigger=BacklogTrigger(check_seconds=300, min_images=11))
    outcome = month(policy, uploads(*([100.0] * 10)))
    assert outcome.latencies[0] == pytest.approx(3600 + 600 + 0.2 - 100.0)


def test_an_age_trigger_starts_a_run_once_the_oldest_image_is_old_enough() -> None:
    policy = BatchRun(schedule_seconds=None, trigger=BacklogTrigger(check_seconds=300, min_age_seconds=1000))
    outcome = month(policy, uploads(100.0))
    # Checks at 300, 600 and 900 s find it younger than 1,000 s; the 1,200 s check starts the run.
    assert outcome.latencies == pytest.approx((1200 + 600 + 0.2 - 100.0,))


def test_inference_units_follow_the_backlog_up_to_the_maximum() -> None:
    policy = BatchRun(drain_target_seconds=300, max_inference_units=4)
    # 3,000 images at 5/s per unit need 2 units to drain in 300 s.
    assert policy.units_for(3000, MODEL) == 2
    assert policy.units_for(3001, MODEL) == 3
    assert policy.units_for(100_000, MODEL) == 4
    outcome = month(policy, uploads(*([1.0] * 3000)))
    # 2 units drain 3,000 images in 300 s: readings every 60 s, the one at 300 s finds nothing left.
    assert outcome.running_seconds == pytest.approx(300.0)
    assert outcome.running_unit_seconds == pytest.approx(600.0)
    assert outcome.starting_unit_seconds == pytest.approx(1200.0)


def test_keeping_the_model_warm_serves_late_uploads_at_once() -> None:
    outcome = month(BatchRun(min_run_seconds=1800), uploads(1.0, 5000.0))
    assert outcome.runs == 1
    assert outcome.latencies == pytest.approx((0.2, 4199.2))
    assert outcome.running_seconds == pytest.approx(1800.0)


def test_model_time_after_the_month_is_not_billed_in_it() -> None:
    # The run that serves an image uploaded just before the end starts after it.
    outcome = month(HOURLY, uploads(DAY_SECONDS - 10.0))
    assert outcome.runs == 0
    assert outcome.running_seconds == 0.0
    assert outcome.latencies == pytest.approx((10.0 + 600 + 0.2,))


def test_a_policy_without_schedule_or_trigger_is_refused() -> None:
    with pytest.raises(ValueError, match="schedule"):
        BatchRun(schedule_seconds=None)


def test_the_steps_around_the_drain_are_model_time_too() -> None:
    # 2 s from the fire to the start call, 5 s to switch the consumer on (the drain's clock starts then),
    # 3 s before it takes its first image, 4 s from the last reading to the stop call.
    policy = BatchRun(
        poll_seconds=60,
        run_setup_seconds=2.0,
        consumer_enable_seconds=5.0,
        consumer_lag_seconds=3.0,
        consumer_disable_seconds=4.0,
    )
    outcome = month(policy, uploads(1.0))
    # RUNNING at 3602 + 600; the 10th poll sees it at once; the clock starts 5 s later, the reading comes 60 s
    # after that, and the stop 4 s later.
    assert outcome.running_seconds == pytest.approx(5.0 + 60.0 + 4.0)
    assert outcome.latencies == pytest.approx((3602 + 600 + 5 + 3 + 0.2 - 1.0,))


def test_an_image_in_flight_keeps_the_queue_from_reading_empty() -> None:
    # Each image is in flight 70 s (a slow batch): the 60 s reading still counts it, the 120 s one does not.
    slow = ModelSpec(
        tps_per_inference_unit=5.0, in_flight_seconds=70.0, start_seconds=600.0, start_spread_seconds=0.0
    )
    outcome = month(HOURLY, uploads(1.0), slow)
    assert outcome.running_seconds == pytest.approx(120.0)
    assert outcome.latencies == pytest.approx((3600 + 600 + 70 - 1.0,))


def test_a_long_drain_polls_less_often_as_the_definition_does() -> None:
    # 4,000 images at 5 a second take 800 s; polls of 1 s pass 300 during the drain (the start took 10)
    quick_start = ModelSpec(start_seconds=10.0, start_spread_seconds=0.0, in_flight_seconds=0.0)
    outcome = month(BatchRun(poll_seconds=1), uploads(*([1.0] * 4000)), quick_start)
    # Then the waits double after the 300th poll and every 50 after: 290 drain readings of 1 s, then 50 of
    # 2 s and 50 of 4 s reach 590 s; the next 8-s waits pass the 800 s of work at 806 s.
    assert outcome.runs == 1
    assert outcome.running_seconds == pytest.approx(806.0)
