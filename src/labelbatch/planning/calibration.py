"""The simulation's model of this application against measured runs of the same uploads on the local stack.

One local stack serves a probe and then each case. The probe's first run warms the consumer (a poller's
execution environment is forked, and builds its clients, for the poller's first batch); its second run gives
this machine's timings for what the simulation treats as constants, read from the run's history by the
definition's state names: the start polls, the poll loop's period, the steps from the poll that sees RUNNING
to the drain's clock, an image's time in flight and the drain rate, the steps from the reading that ends the
drain to the stop call. Each case then uploads its images and fires the batch run, and the simulation, given
those timings, the same uploads and the same fires, predicts the model's RUNNING seconds that the emulator
bills.

Not imported by `labelbatch plan`: it drives the local stack (moto, boto3).
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from labelbatch.emulator import EmulatorSettings
from labelbatch.images import generate_sample_images
from labelbatch.local.stack import LocalStack, LocalStackConfig
from labelbatch.planning.arrivals import DAY_SECONDS, Arrivals
from labelbatch.planning.batch_run import BatchRun
from labelbatch.planning.model import ModelSpec

# What the probe reads from a run's history, by state name (statemachine/batch_run.asl.json): when a name
# changes, change it here (a missing name fails loudly, see _times). There is one poll loop, whether the model
# is starting or the queue draining: Wait For Next Poll (which ticks the clock), the reading, the model check,
# Check Consumer, What Next?. The poll that sees RUNNING goes on through Record Model Running and Enable
# Consumer; the reading that finds nothing waiting goes on to Batch Done and the switch-off, which stops the
# model before it disables the consumer.
START_CALL = "Start Model"
MODEL_POLL = "Check Model"
RUNNING_SEEN = "Record Model Running"
READING = "Count Backlog"
STOP_CALL = "Stop Model"
# The drain ends at the first reading that finds nothing waiting.
EMPTY_READINGS_TO_END = 1
# Seconds a run, or a case beyond its last upload, may take before it counts as stuck (a guard, not a
# measurement).
_RUN_TIMEOUT_SECONDS = 240

StateTimes = dict[str, list[float]]
"""Epoch seconds of each visit of each state, by state name ('@start': the execution's start)."""


@dataclass(frozen=True)
class LocalSettings:
    """The local stack's settings for calibration: short polls and a fast model, as the e2e tests use."""

    # Long enough that a step's jitter on a busy machine (tenths of a second) is small beside a run's model
    # time, short enough that the calibration takes minutes.
    poll_seconds: int = 3
    # Not a multiple of the poll: the poll that sees RUNNING (the second) comes about 2.5 s after RUNNING, as
    # on AWS it comes anywhere in its interval.
    start_seconds: float = 4.0
    stop_seconds: float = 0.5
    # Capacity far above what the consumer calls: the drain runs at the consumer's own pace, which the probe
    # measures (issue 7 makes that pace the model's capacity).
    tps_per_inference_unit: float = 100.0
    latency_ms: float = 50.0
    # Each execution environment starts one model call every 1.02 s (functions/analyze_image/pacing.py): the
    # consumer drains about four images a second, and the environments leave the machine's two cores room.
    consumer_max_concurrency: int = 4
    empty_readings_to_end: int = EMPTY_READINGS_TO_END


@dataclass(frozen=True)
class ScheduledCase:
    """A scaled-down arrival pattern: uploads on a clock (seconds from the case's start) and the schedule's
    period, as EventBridge Scheduler fires it. Uploads fall during runs too."""

    name: str
    uploads: tuple[float, ...]
    tick_seconds: float
    first_tick_seconds: float


@dataclass(frozen=True)
class RunCase:
    """Runs one after another: each batch of images uploaded, then a run fired and awaited. Nothing arrives
    while a run drains, so the local stack's slow uploads cannot blur when an image arrived."""

    name: str
    batches: tuple[int, ...]


LocalCase = ScheduledCase | RunCase


@dataclass(frozen=True)
class MachineTimings:
    """What this machine takes for the steps the simulation treats as constants (from the probe)."""

    start_poll_seconds: float
    drain_poll_seconds: float
    run_setup_seconds: float
    consumer_enable_seconds: float
    consumer_lag_seconds: float
    consumer_disable_seconds: float
    images_per_second: float
    in_flight_seconds: float


@dataclass(frozen=True)
class CaseMeasurement:
    case: LocalCase
    uploads: tuple[float, ...]
    """When each upload completed, seconds from the case's start."""
    fires: tuple[float, ...]
    """When each batch run was started, seconds from the case's start."""
    running_seconds: float
    """RUNNING seconds the emulator billed during the case."""
    started_runs: int
    """Runs that started the model."""

    @classmethod
    def of(
        cls,
        case: LocalCase,
        uploads: Sequence[float],
        fires: Sequence[float],
        before: dict[str, Any],
        after: dict[str, Any],
    ) -> CaseMeasurement:
        """The case's uploads and fires, and what the emulator's usage gained between `before` and `after`."""
        return cls(
            case=case,
            uploads=tuple(uploads),
            fires=tuple(fires),
            running_seconds=float(after["runningSeconds"] - before["runningSeconds"]),
            started_runs=int(after["startCalls"] - before["startCalls"]),
        )


@dataclass(frozen=True)
class Comparison:
    measured: CaseMeasurement
    simulated_running_seconds: float

    @property
    def relative_error(self) -> float:
        return self.simulated_running_seconds / self.measured.running_seconds - 1


class CalibrationStack:
    """A local stack and the calls calibration makes to it, on clients built once: building a client takes
    about a second on a busy machine, more than an upload."""

    def __init__(self, stack: LocalStack) -> None:
        assert stack.emulator is not None, "calibration measures the emulator's model"
        self.stack = stack
        self.emulator = stack.emulator
        outputs = stack.outputs
        self._bucket = outputs["ImageBucketName"]
        self._input_prefix = outputs["InputPrefix"]
        self._results_prefix = outputs["ResultsPrefix"]
        self._queue_url = outputs["ImageQueueUrl"]
        self._s3 = stack.client("s3")
        self._sfn = stack.client("stepfunctions")

    def upload(self, path: Path, prefix: str) -> str:
        key = f"{self._input_prefix}{prefix}{path.name}"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=path.read_bytes())
        return key

    def fire(self) -> str:
        """Start a batch run as the schedule does; returns its execution ARN."""
        return self.stack.start_batch_run()

    def describe(self, arn: str) -> dict[str, Any]:
        description: dict[str, Any] = self._sfn.describe_execution(executionArn=arn)
        return description

    def wait_until_succeeded(self, arn: str, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + _RUN_TIMEOUT_SECONDS
        while (description := self.describe(arn))["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: run still RUNNING after {_RUN_TIMEOUT_SECONDS} s")
            time.sleep(0.2)
        if description["status"] != "SUCCEEDED":
            raise RuntimeError(f"{what}: run {description['status']}: {description.get('cause')}")
        return description

    def state_times(self, arn: str, description: dict[str, Any]) -> StateTimes:
        """When each visit of each state did its work: the middle of the visit, when a Task's call reached the
        service (under load a call takes tenths of a second)."""
        entered: StateTimes = {}
        exited: StateTimes = {}
        for page in self._sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            for event in page["events"]:
                moment = event["timestamp"].timestamp()
                if details := event.get("stateEnteredEventDetails"):
                    entered.setdefault(details["name"], []).append(moment)
                elif details := event.get("stateExitedEventDetails"):
                    exited.setdefault(details["name"], []).append(moment)
        middles = {
            name: [
                (began + ended) / 2 for began, ended in zip(moments, exited.get(name, moments), strict=False)
            ]
            for name, moments in entered.items()
        }
        return {"@start": [description["startDate"].timestamp()], **middles}

    def analyzed_at(self, image_keys: Sequence[str]) -> list[float]:
        """Epoch seconds at which each image's result says it was analyzed, sorted (images without none)."""
        times = []
        for key in image_keys:
            result_key = self._results_prefix + key[len(self._input_prefix) :] + ".json"
            try:
                body = self._s3.get_object(Bucket=self._bucket, Key=result_key)["Body"].read()
            except self._s3.exceptions.NoSuchKey:
                continue
            analyzed = json.loads(body)["analyzedAt"]
            times.append(datetime.fromisoformat(analyzed.replace("Z", "+00:00")).timestamp())
        return sorted(times)

    def usage(self) -> dict[str, Any]:
        """The emulator's model usage so far (RUNNING seconds billed, start calls)."""
        usage: dict[str, Any] = self.emulator.model_report()["usage"]
        return usage


def run_cases() -> list[RunCase]:
    """The three patterns as runs, sized so that each drain ends about a second from any reading, in the
    simulation and on the stack alike. Readings come about 3.2 s apart. The simulation drains at the probe's
    rate (about 3.9 images a second) from the drain's clock; the stack's four environments each take an image
    at once and then one every 1.02 s, so it finishes about a second earlier: an image or two (trickle) end
    before the first reading, 18 (bursts) before the second, 30 (the drop) before the third. A size that ends
    near a reading would put the two on different readings, a whole poll apart (measured: 24 images, +38%)."""
    return [
        RunCase("trickle", (1, 2)),
        RunCase("bursts", (18, 18)),
        RunCase("drop", (30,)),
    ]


def scheduled_cases() -> list[ScheduledCase]:
    """The three patterns at seconds, not hours, on a clock: a trickle, bursts, one drop."""
    trickle = tuple(round(2.6 * k + 1.1 * (k % 3), 2) for k in range(14))
    bursts = tuple(start + 0.05 * k for start in (1.0, 21.0) for k in range(12))
    drop = tuple(1.0 + 0.02 * k for k in range(60))
    return [
        ScheduledCase("trickle", trickle, tick_seconds=12.0, first_tick_seconds=6.0),
        ScheduledCase("bursts", bursts, tick_seconds=15.0, first_tick_seconds=8.0),
        ScheduledCase("drop", drop, tick_seconds=40.0, first_tick_seconds=4.0),
    ]


@contextmanager
def calibration_stack(settings: LocalSettings) -> Iterator[CalibrationStack]:
    config = LocalStackConfig(
        port=0,
        schedule=False,
        poll_seconds=settings.poll_seconds,
        function_log_level="ERROR",
        function_metrics=False,
        parameters={"ConsumerMaxConcurrency": str(settings.consumer_max_concurrency)},
        emulator=EmulatorSettings(
            start_seconds=settings.start_seconds,
            stop_seconds=settings.stop_seconds,
            tps_per_inference_unit=settings.tps_per_inference_unit,
            latency_ms=settings.latency_ms,
        ),
    )
    with LocalStack(config) as stack:
        # The probe's warm-up run also removes the s3:TestEvent that writing the notification queued.
        yield CalibrationStack(stack)


# The probe's measured run drains over three readings; the warm-up gives each poller a batch (BatchSize 2).
PROBE_IMAGES = 20


def probe(local: CalibrationStack, settings: LocalSettings, images: int = PROBE_IMAGES) -> MachineTimings:
    """A run that warms the consumer, then a run of `images` uploads whose history gives the timings."""
    warm_up = 2 * settings.consumer_max_concurrency
    with tempfile.TemporaryDirectory() as scratch:
        paths = [sample.path for sample in generate_sample_images(Path(scratch), warm_up + images, seed=11)]
        for path in paths[:warm_up]:
            local.upload(path, prefix="probe-warm-up/")
        local.wait_until_succeeded(local.fire(), "probe warm-up")
        keys = [local.upload(path, prefix="probe/") for path in paths[warm_up:]]
        arn = local.fire()
        history = local.state_times(arn, local.wait_until_succeeded(arn, "probe"))
    return timings_from(history, local.analyzed_at(keys))


def timings_from(history: StateTimes, results: Sequence[float]) -> MachineTimings:
    """The timings of one run that drained over two readings at least, and its images' result times."""
    started = _times(history, START_CALL)[0]
    seen = _times(history, RUNNING_SEEN)[0]
    # The model checks after the start call; the last before RUNNING was recorded is the one that saw it.
    start_polls = [moment for moment in _times(history, MODEL_POLL) if started < moment < seen]
    readings = [moment for moment in _times(history, READING) if moment > started]
    drain = [moment for moment in readings if moment > seen]
    if not start_polls or len(drain) < 2 or len(results) < 2:
        raise ValueError("the probe's run must poll the start and drain over two readings: upload more")
    # One poll loop: every interval between readings is the same states, except the one that enables the
    # consumer, whose extra steps are the consumer's switch-on.
    loop = statistics.mean(
        later - earlier for earlier, later in itertools.pairwise(readings) if not earlier < seen < later
    )
    drain_clock = drain[0] - loop
    rate = (len(results) - 1) / (results[-1] - results[0])
    return MachineTimings(
        start_poll_seconds=(start_polls[-1] - started) / len(start_polls),
        drain_poll_seconds=loop,
        run_setup_seconds=started - _times(history, "@start")[0],
        consumer_enable_seconds=drain_clock - start_polls[-1],
        consumer_lag_seconds=0.0,
        consumer_disable_seconds=_times(history, STOP_CALL)[0] - drain[-1],
        images_per_second=rate,
        # The first result came this long after the drain's clock started: an image's time in flight (pollers
        # waking, the invocation, the analysis). The rest of the backlog followed at the drain rate.
        in_flight_seconds=max(1 / rate, results[0] - drain_clock),
    )


def measure(local: CalibrationStack, case: LocalCase) -> CaseMeasurement:
    if isinstance(case, RunCase):
        return _measure_runs(local, case)
    return _measure_scheduled(local, case)


def _measure_runs(local: CalibrationStack, case: RunCase) -> CaseMeasurement:
    """Upload each batch, then fire a run and wait for its end. A run ends at least five seconds after it
    disabled the consumer (Wait For Consumer To Stop): no poller still receives when the next batch comes."""
    before = local.usage()
    uploaded: list[float] = []
    fires: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        paths = iter(generate_sample_images(Path(scratch), sum(case.batches), seed=5))
        origin = time.time()
        for number, size in enumerate(case.batches):
            for _ in range(size):
                began = time.time()
                local.upload(next(paths).path, prefix=f"{case.name}-{number}/")
                uploaded.append((began + time.time()) / 2 - origin)
            fires.append(time.time() - origin)
            local.wait_until_succeeded(local.fire(), f"case {case.name}")
    return CaseMeasurement.of(case, uploaded, fires, before, local.usage())


def _measure_scheduled(local: CalibrationStack, case: ScheduledCase) -> CaseMeasurement:
    """Upload the case's images and fire its schedule until every image has a result and no run is left."""
    before = local.usage()
    with tempfile.TemporaryDirectory() as scratch:
        paths = [sample.path for sample in generate_sample_images(Path(scratch), len(case.uploads), seed=5)]
        origin = time.time()
        uploaded: list[float] = []
        keys: list[str] = []
        uploader = threading.Thread(
            target=_upload_on_time, args=(local, paths, case, origin, uploaded, keys), daemon=True
        )
        uploader.start()
        fires: list[float] = []
        arns: list[str] = []
        tick = case.first_tick_seconds
        deadline = origin + case.uploads[-1] + _RUN_TIMEOUT_SECONDS
        while True:
            _sleep_until(origin + tick)
            if not uploader.is_alive() and _all_done(local, keys, arns):
                break
            if time.time() > deadline:
                raise TimeoutError(f"case {case.name}: images still waiting after {_RUN_TIMEOUT_SECONDS} s")
            fires.append(time.time() - origin)
            arns.append(local.fire())
            tick += case.tick_seconds
        uploader.join()
    return CaseMeasurement.of(case, uploaded, fires, before, local.usage())


def simulate(measured: CaseMeasurement, timings: MachineTimings, settings: LocalSettings) -> float:
    """The simulation's RUNNING seconds for the case's measured uploads and fires, given the timings."""
    case, uploads = measured.case, Arrivals.single_images(list(measured.uploads), float(DAY_SECONDS))
    model = ModelSpec(
        tps_per_inference_unit=timings.images_per_second,
        in_flight_seconds=timings.in_flight_seconds,
        start_seconds=settings.start_seconds,
        start_spread_seconds=0.0,
        stop_seconds=settings.stop_seconds,
    )
    if isinstance(case, ScheduledCase):
        policy = _policy(timings, settings, case.tick_seconds, measured.fires[0])
        return policy.simulate(uploads, model).running_seconds
    # One fire a day at each measured fire: the runs never meet, so each is its own month.
    return sum(
        _policy(timings, settings, DAY_SECONDS, fire)
        .simulate(_uploaded_before(measured, fire), model)
        .running_seconds
        for fire in measured.fires
    )


def _uploaded_before(measured: CaseMeasurement, fire: float) -> Arrivals:
    earlier = max((other for other in measured.fires if other < fire), default=-math.inf)
    return Arrivals.single_images([t for t in measured.uploads if earlier < t <= fire], float(DAY_SECONDS))


def _policy(timings: MachineTimings, settings: LocalSettings, period: float, first_fire: float) -> BatchRun:
    return BatchRun(
        name="local",
        schedule_seconds=period,
        schedule_phase_seconds=first_fire,
        poll_seconds=timings.start_poll_seconds,
        drain_poll_seconds=timings.drain_poll_seconds,
        empty_readings_to_end=settings.empty_readings_to_end,
        run_setup_seconds=timings.run_setup_seconds,
        consumer_enable_seconds=timings.consumer_enable_seconds,
        consumer_lag_seconds=timings.consumer_lag_seconds,
        consumer_disable_seconds=timings.consumer_disable_seconds,
    )


def compare(
    local: CalibrationStack, timings: MachineTimings, settings: LocalSettings, case: LocalCase
) -> Comparison:
    measured = measure(local, case)
    return Comparison(measured=measured, simulated_running_seconds=simulate(measured, timings, settings))


# -- helpers ------------------------------------------------------------------------------------------------


def _upload_on_time(
    local: CalibrationStack,
    paths: Sequence[Path],
    case: ScheduledCase,
    origin: float,
    uploaded: list[float],
    keys: list[str],
) -> None:
    for at, path in zip(case.uploads, paths, strict=True):
        _sleep_until(origin + at)
        began = time.time()
        keys.append(local.upload(path, prefix=f"{case.name}/"))
        # S3 queues the notification while the request is being served: the middle of the call is the
        # best estimate of when the message appeared.
        uploaded.append((began + time.time()) / 2 - origin)


def _all_done(local: CalibrationStack, keys: Sequence[str], arns: Sequence[str]) -> bool:
    if any(local.describe(arn)["status"] == "RUNNING" for arn in arns):
        return False
    return len(local.analyzed_at(keys)) == len(keys)


def _times(history: StateTimes, state: str) -> list[float]:
    if state not in history:
        raise LookupError(f"no '{state}' state in the run: the definition changed; update calibration.py")
    return history[state]


def _sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)
