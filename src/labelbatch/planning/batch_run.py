"""This application's batch run, as issue 7 defines it, plus the candidate options of issue 9.

A run fires on the schedule (and, with a backlog trigger, on a frequent check). It skips when another
run is in progress, ends at once when nothing waits, otherwise starts the model, polls it every
`poll_seconds` until RUNNING (the first poll one interval after the start), enables the consumer, which
drains at the model's capacity (images uploaded meanwhile included), reads the queue every
`drain_poll_seconds`, ends the drain at the first reading (`empty_readings_to_end`) that finds nothing
waiting, and stops the model at once. Every behaviour that decides model time is a field here, so that the
simulation is the definition's arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from labelbatch.planning.alternatives import RETENTION_SECONDS
from labelbatch.planning.arrivals import HOUR_SECONDS, Arrivals
from labelbatch.planning.meter import Meter, Outcome
from labelbatch.planning.model import ModelSpec, StartDurations
from labelbatch.planning.queue import ImageQueue

# Floating-point slack when a start ends exactly on a poll: that poll sees RUNNING, as the emulator's does.
_EPSILON = 1e-9

# template.yaml's PollIntervalSeconds default (tests/planning/test_planning_cli.py ties the two).
DEFAULT_POLL_SECONDS = 15.0
# The definition's Wait For Next Poll: after 300 polls of a run, and every 50 after, the interval doubles
# (tests/statemachine/test_definition.py ties the two).
SLOWER_AFTER_POLLS = 300
SLOWER_EVERY_POLLS = 50


def poll_wait(interval: float, polls_done: int) -> float:
    """The wait before a run's next poll once it has polled `polls_done` times."""
    if polls_done < SLOWER_AFTER_POLLS:
        return interval
    doublings = 1 + (polls_done - SLOWER_AFTER_POLLS) // SLOWER_EVERY_POLLS
    return interval * float(1 << doublings)


@dataclass(frozen=True)
class Transitions:
    """State transitions per step of statemachine/batch_run.asl.json: the states a run enters
    (tests/statemachine/test_paths.py counts them in an idle run and in a two-image run), and for a skipped
    run also the lock's two retries, which AWS counts too."""

    idle_run: int = 10
    skipped_run: int = 5
    run: int = 35
    start_poll: int = 6
    drain_poll: int = 6


@dataclass(frozen=True)
class BacklogTrigger:
    """A check every `check_seconds` that starts a run before the next tick once enough work waits.

    On AWS: a second schedule that starts the same state machine, whose backlog test compares against the
    thresholds instead of zero. `min_age_seconds` needs the oldest message's age, which GetQueueAttributes
    does not give (CloudWatch's ApproximateAgeOfOldestMessage does, minutes late).
    """

    check_seconds: float = 300.0
    min_images: int | None = None
    min_age_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.min_images is None and self.min_age_seconds is None:
            raise ValueError("a backlog trigger needs min_images, min_age_seconds or both")

    def fires(self, queue: ImageQueue, t: float) -> bool:
        waiting = queue.untaken_by(t)
        if waiting == 0:
            return False
        if self.min_images is not None and waiting >= self.min_images:
            return True
        oldest = queue.oldest_untaken()
        return self.min_age_seconds is not None and oldest is not None and t - oldest >= self.min_age_seconds


@dataclass(frozen=True)
class BatchRun:
    """This application's policy. The defaults are the template's (issue 7's drain, one inference unit)."""

    name: str = "labelbatch"
    schedule_seconds: float | None = HOUR_SECONDS
    schedule_phase_seconds: float = 0.0
    poll_seconds: float = DEFAULT_POLL_SECONDS
    """PollIntervalSeconds: between checks of the model while it starts (and of the queue, unless apart)."""
    drain_poll_seconds: float | None = None
    """Between readings of the queue while draining; None: poll_seconds."""
    drain_wait_from_backlog: bool = False
    """Wait until the next reading as long as the images waiting at the last one need at capacity (at least
    the drain interval): a long drain then takes a few readings, not one per interval."""
    empty_readings_to_end: int = 1
    run_setup_seconds: float = 0.0
    """From the fire to the start call (the guard, the backlog count, the marker: transitions only)."""
    consumer_enable_seconds: float = 0.0
    """From the poll that sees RUNNING to the start of the drain's clock (consumer enabled, confirmed)."""
    consumer_lag_seconds: float = 0.0
    """From the start of the drain's clock to the consumer's first image (pollers waking, cold starts)."""
    consumer_disable_seconds: float = 0.0
    """From the reading that ends the drain to the stop call (consumer off, in-flight batches)."""
    model_start_timeout_seconds: float = 30 * 60.0
    max_run_seconds: float = 720 * 60.0
    min_run_seconds: float = 0.0
    """A drain never ends before this (keep the model warm for late uploads)."""
    inference_units: int = 1
    drain_target_seconds: float | None = None
    """Units from the backlog: enough units (up to max_inference_units) to drain it in this time."""
    max_inference_units: int = 1
    trigger: BacklogTrigger | None = None
    transitions: Transitions = Transitions()

    def __post_init__(self) -> None:
        if self.schedule_seconds is None and self.trigger is None:
            raise ValueError("a batch-run policy needs a schedule, a backlog trigger or both")
        if self.poll_seconds <= 0 or (self.drain_poll_seconds is not None and self.drain_poll_seconds <= 0):
            raise ValueError("poll intervals must be positive")
        if self.inference_units < 1 or self.max_inference_units < self.inference_units:
            raise ValueError("need 1 <= inference_units <= max_inference_units")

    @property
    def drain_interval(self) -> float:
        return self.drain_poll_seconds if self.drain_poll_seconds is not None else self.poll_seconds

    @property
    def summary(self) -> str:
        parts = []
        if self.schedule_seconds is not None:
            parts.append(f"tick every {_duration(self.schedule_seconds)}")
        if self.trigger is not None:
            conditions = []
            if self.trigger.min_images is not None:
                conditions.append(f">= {self.trigger.min_images} images wait")
            if self.trigger.min_age_seconds is not None:
                conditions.append(f"oldest waited {_duration(self.trigger.min_age_seconds)}")
            parts.append(
                f"check every {_duration(self.trigger.check_seconds)}: run if {' or '.join(conditions)}"
            )
        polls = f"poll {self.poll_seconds:g} s"
        if self.drain_poll_seconds is not None:
            polls += f" (drain {self.drain_poll_seconds:g} s)"
        if self.drain_wait_from_backlog:
            polls += ", drain waits for its backlog"
        parts.append(polls)
        if self.drain_target_seconds is not None:
            parts.append(
                f"units {self.inference_units}-{self.max_inference_units} to drain in "
                f"{_duration(self.drain_target_seconds)}"
            )
        else:
            parts.append(f"{self.inference_units} unit(s)")
        if self.min_run_seconds:
            parts.append(f"keep RUNNING >= {_duration(self.min_run_seconds)}")
        return ", ".join(parts)

    def units_for(self, backlog: int, model: ModelSpec) -> int:
        if self.drain_target_seconds is None:
            return self.inference_units
        needed = math.ceil(backlog / (model.tps_per_inference_unit * self.drain_target_seconds))
        return min(self.max_inference_units, max(self.inference_units, needed))

    def simulate(self, arrivals: Arrivals, model: ModelSpec, seed: int = 1) -> Outcome:
        return _Month(self, arrivals, model, seed).run()


class _Month:
    """One month of fires and runs; runs never overlap (the overlap guard skips fires during a run)."""

    def __init__(self, policy: BatchRun, arrivals: Arrivals, model: ModelSpec, seed: int) -> None:
        self.policy = policy
        self.arrivals = arrivals
        self.model = model
        self.queue = ImageQueue(arrivals, model.in_flight_seconds)
        self.meter = Meter(arrivals.horizon)
        self.starts: StartDurations = model.start_durations(seed)
        self.stopped_at = -math.inf

    def run(self) -> Outcome:
        policy, queue, meter, horizon = self.policy, self.queue, self.meter, self.arrivals.horizon
        t = self._next_fire(-math.inf)
        while t < horizon + RETENTION_SECONDS and (t < horizon or not queue.exhausted):
            waiting = queue.untaken_by(t)
            if self._is_tick(t):
                go = waiting > 0
            else:
                assert policy.trigger is not None
                go = policy.trigger.fires(queue, t)
            if not go:
                if t < horizon:
                    meter.transitions += policy.transitions.idle_run
                t = self._next_fire(t)
                continue
            ended = self._batch_run(t, waiting)
            if t < horizon:
                meter.transitions += policy.transitions.skipped_run * self._fires_between(t, ended, horizon)
            t = self._next_fire(ended)
        return Outcome.of(policy.name, self.arrivals.images, meter, queue.latencies(), queue.untaken_images)

    def _batch_run(self, fired: float, backlog: int) -> float:
        """One run that found `backlog` images waiting at `fired`; returns when it ends."""
        policy, model, meter = self.policy, self.model, self.meter
        counted = fired < self.arrivals.horizon
        steps = policy.transitions
        poll = policy.poll_seconds
        start_call = fired + policy.run_setup_seconds
        start_deadline = start_call + policy.model_start_timeout_seconds
        polls = 0
        # The model is still STOPPING: the run polls until it is STOPPED, then starts it.
        while start_call < self.stopped_at - _EPSILON:
            start_call += poll_wait(poll, polls)
            polls += 1
        units = policy.units_for(backlog, model)
        running_at = start_call + self.starts.next()
        seen = start_call
        while True:
            seen += poll_wait(poll, polls)
            polls += 1
            if seen >= running_at - _EPSILON or seen > start_deadline:
                break
        if counted:
            meter.runs += 1
            meter.transitions += steps.run + steps.start_poll * polls
        meter.starting(start_call, running_at, units)
        if seen > start_deadline:
            # ModelStartTimedOut: cleanup stops the model once it can (when RUNNING); images stay queued.
            if counted:
                meter.failed_runs += 1
            self.stopped_at = running_at + model.stop_seconds
            return running_at
        drain_starts = seen + policy.consumer_enable_seconds
        reading, timed_out = self._drain(drain_starts, model.capacity(units), counted, polls)
        if timed_out and counted:
            meter.failed_runs += 1
        stop_call = reading + policy.consumer_disable_seconds
        meter.running(running_at, stop_call, units)
        self.stopped_at = stop_call + model.stop_seconds
        return stop_call

    def _drain(self, since: float, capacity: float, counted: bool, polls: int) -> tuple[float, bool]:
        """Readings from `since` on, after the run's first `polls` polls; returns (the reading that ends the
        drain, whether it timed out)."""
        policy, queue = self.policy, self.queue
        interval = policy.drain_interval
        serving = since + policy.consumer_lag_seconds
        empty_in_a_row = 0
        readings = 0
        reading = since
        while True:
            # While the model is kept warm no reading can end the drain: the consumer just keeps serving.
            warm = reading - since < policy.min_run_seconds
            wait = poll_wait(interval, polls + readings)
            if policy.drain_wait_from_backlog and not warm:
                wait = max(interval, queue.waiting(reading, serving, capacity) / capacity)
            readings += 1
            reading += wait
            queue.serve(serving, reading, capacity)
            if reading - since < policy.min_run_seconds:
                empty_in_a_row = 0
            elif queue.nothing_waiting(reading, serving, capacity):
                empty_in_a_row += 1
            else:
                empty_in_a_row = 0
            ended = empty_in_a_row >= policy.empty_readings_to_end
            timed_out = not ended and reading - since >= policy.max_run_seconds
            if ended or timed_out:
                if counted:
                    self.meter.transitions += policy.transitions.drain_poll * readings
                return reading, timed_out

    # -- fire times -----------------------------------------------------------------------------------

    def _is_tick(self, t: float) -> bool:
        period = self.policy.schedule_seconds
        if period is None:
            return False
        phase = (t - self.policy.schedule_phase_seconds) / period
        return abs(phase - round(phase)) < _EPSILON

    def _next_fire(self, after: float) -> float:
        """The first tick or trigger check strictly after `after` (the first at or after 0)."""
        candidates = []
        if self.policy.schedule_seconds is not None:
            candidates.append(
                _next_multiple(after, self.policy.schedule_seconds, self.policy.schedule_phase_seconds)
            )
        if self.policy.trigger is not None:
            candidates.append(_next_multiple(after, self.policy.trigger.check_seconds, 0.0))
        return min(candidates)

    def _fires_between(self, begin: float, end: float, horizon: float) -> int:
        """Fires in (begin, end] before the horizon: each is skipped by the overlap guard."""
        count = 0
        t = self._next_fire(begin)
        while t <= end and t < horizon:
            count += 1
            t = self._next_fire(t)
        return count


def _next_multiple(after: float, period: float, phase: float) -> float:
    if after == -math.inf:
        return phase % period
    k = math.floor((after - phase) / period + _EPSILON) + 1
    return phase + k * period


def _duration(seconds: float) -> str:
    if seconds >= HOUR_SECONDS and seconds % HOUR_SECONDS == 0:
        return f"{seconds / HOUR_SECONDS:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
