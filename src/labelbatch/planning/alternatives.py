"""The policies people use instead of this application, simulated on the same queue and model."""

from __future__ import annotations

import math
from dataclasses import dataclass

from labelbatch.planning.arrivals import DAY_SECONDS, HOUR_SECONDS, Arrivals, clock_text
from labelbatch.planning.meter import Meter, Outcome
from labelbatch.planning.model import ModelSpec
from labelbatch.planning.queue import ImageQueue

# SQS keeps a message at most 14 days: a policy that has not taken an image by then has lost it.
RETENTION_SECONDS = 14 * DAY_SECONDS


@dataclass(frozen=True)
class AlwaysOn:
    """The model runs all month (started before it) and the consumer takes every image at once."""

    inference_units: int = 1
    name: str = "always on"

    @property
    def summary(self) -> str:
        return f"model RUNNING all month with {self.inference_units} inference unit(s), consumer always on"

    def simulate(self, arrivals: Arrivals, model: ModelSpec, seed: int = 1) -> Outcome:
        queue = ImageQueue(arrivals, model.in_flight_seconds)
        meter = Meter(arrivals.horizon)
        queue.serve(0.0, math.inf, model.capacity(self.inference_units))
        meter.running(0.0, arrivals.horizon, self.inference_units)
        return Outcome.of(self.name, arrivals.images, meter, queue.latencies(), queue.untaken_images)


@dataclass(frozen=True)
class BusinessWindow:
    """A fixed window: started ahead so that it is RUNNING at opening, stopped at closing, weekdays only.

    Images uploaded outside the window wait for the next opening.
    """

    open_hour: float = 9.0
    close_hour: float = 17.0
    inference_units: int = 1
    name: str = "business window"

    @property
    def summary(self) -> str:
        return (
            f"model RUNNING Mon-Fri {clock_text(self.open_hour)}-{clock_text(self.close_hour)} "
            f"({self.inference_units} unit(s)), started ahead of opening"
        )

    def simulate(self, arrivals: Arrivals, model: ModelSpec, seed: int = 1) -> Outcome:
        queue = ImageQueue(arrivals, model.in_flight_seconds)
        meter = Meter(arrivals.horizon)
        starts = model.start_durations(seed)
        capacity = model.capacity(self.inference_units)
        day = 0
        while day * DAY_SECONDS < arrivals.horizon + RETENTION_SECONDS and (
            day * DAY_SECONDS < arrivals.horizon or not queue.exhausted
        ):
            if day % 7 < 5:
                opens = day * DAY_SECONDS + self.open_hour * HOUR_SECONDS
                closes = day * DAY_SECONDS + self.close_hour * HOUR_SECONDS
                meter.starting(opens - starts.next(), opens, self.inference_units)
                meter.running(opens, closes, self.inference_units)
                queue.serve(opens, closes, capacity)
            day += 1
        return Outcome.of(self.name, arrivals.images, meter, queue.latencies(), queue.untaken_images)


@dataclass(frozen=True)
class ReferenceSample:
    """aws-samples/amazon-rekognition-custom-labels-batch-processing, its template.yaml state machine.

    Every hour: if SQS shows visible messages (ApproximateNumberOfMessages only), start the model, check it
    every 15 minutes (the first check 15 minutes after the start), enable the trigger once RUNNING, then wait
    59 minutes and check the visible count again; stop when it reads zero, else wait another 59 minutes.
    An hourly run that finds the model STARTING or RUNNING changes nothing; one that finds it STOPPING fails.
    """

    schedule_seconds: float = HOUR_SECONDS
    start_check_seconds: float = 15 * 60
    keep_seconds: float = 3540
    inference_units: int = 1
    name: str = "reference sample"

    @property
    def summary(self) -> str:
        return (
            f"AWS sample: hourly check of visible messages; start, check every "
            f"{self.start_check_seconds / 60:g} min, keep RUNNING {self.keep_seconds / 60:g} min at a time"
        )

    def simulate(self, arrivals: Arrivals, model: ModelSpec, seed: int = 1) -> Outcome:
        queue = ImageQueue(arrivals, model.in_flight_seconds)
        meter = Meter(arrivals.horizon)
        starts = model.start_durations(seed)
        capacity = model.capacity(self.inference_units)
        stopped_at = -math.inf
        t = 0.0
        while t < arrivals.horizon + RETENTION_SECONDS and (t < arrivals.horizon or not queue.exhausted):
            if stopped_at > t or not queue.visible(t):
                t += self.schedule_seconds
                continue
            running_at = t + starts.next()
            checks = max(1, math.ceil((running_at - t) / self.start_check_seconds - 1e-9))
            enabled_at = t + checks * self.start_check_seconds
            reading = enabled_at + self.keep_seconds
            queue.serve(enabled_at, reading, capacity)
            while queue.visible(reading):
                reading += self.keep_seconds
                queue.serve(enabled_at, reading, capacity)
            if t < arrivals.horizon:
                meter.runs += 1
            meter.starting(t, running_at, self.inference_units)
            meter.running(running_at, reading, self.inference_units)
            stopped_at = reading + model.stop_seconds
            t += self.schedule_seconds * (math.floor((reading - t) / self.schedule_seconds) + 1)
        return Outcome.of(self.name, arrivals.images, meter, queue.latencies(), queue.untaken_images)
