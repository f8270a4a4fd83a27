"""The simulation's model of this application against measured runs of the same uploads on the local stack.

One local stack serves a probe and then each case. The probe (two runs of a batch, the first warming the
consumer's execution environments) measures how long this machine takes for what the simulation treats as
constants: a poll (the Wait plus its tasks), the steps between the poll that sees RUNNING and the drain's
clock, an image's time in flight, the drain rate, the steps from the last reading to the stop call. Each case
then uploads at its own times and fires the batch run on its own period, exactly as EventBridge Scheduler
would, and the simulation, given those constants, the same uploads and the same fires, predicts the model's
RUNNING seconds that the emulator bills.

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
# changes, change it here (a missing name fails loudly, see _times).
START_CALL = "Start Model"
MODEL_POLL = "Check Model"
RUNNING_SEEN = "Record Model Running"
READING = "Count Backlog"
STOP_CALL = "Stop Model"
# The drain ends at the first reading that finds nothing waiting.
EMPTY_READINGS_TO_END = 1
# Seconds a case may take beyond its last tick before it counts as stuck (a guard, not a measurement).
_CASE_TIMEOUT_SECONDS = 240
_PROBE_IMAGES = 30
# A poller that checked the mapping just before a run disabled it can still receive for a second: an image
# uploaded then is analyzed while the model stops (ResourceNotReady, retried later). Runs cases wait this
# long before uploading the next batch, so that each run sees only its own images.
_QUIET_SECONDS = 3.0


@dataclass(frozen=True)
class LocalSettings:
    """The local stack's settings for calibration: short polls and a fast model, as the e2e tests use."""

    # Long enough that a poll's jitter on a busy machine (tenths of a second) is small beside a run's model
    # time, short enough that the calibration takes minutes.
    poll_seconds: int = 3
    # Not a multiple of the poll: the poll that sees RUNNING lands mid-interval, as it would on AWS.
    start_seconds: float = 4.0
    stop_seconds: float = 0.5
    # Capacity far above what the consumer calls: the drain runs at the consumer's own pace, which the probe
    # measures (issue 7 makes that pace the model's capacity).
    tps_per_inference_unit: float = 100.0
    latency_ms: float = 50.0
    consumer_max_concurrency: int = 10
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


@dataclass(frozen=True)
class Comparison:
    measured: CaseMeasurement
    simulated_running_seconds: float

    @property
    def relative_error(self) -> float:
        return self.simulated_running_seconds / self.measured.running_seconds - 1


def run_cases() -> list[RunCase]:
    """The three patterns as runs: a trickle (an image or two a run), bursts, one drop."""
    return [
        RunCase("trickle", (1, 2, 1)),
        RunCase("bursts", (10, 10)),
        RunCase("drop", (40,)),
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
def calibration_stack(settings: LocalSettings) -> Iterator[LocalStack]:
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
        _remove_test_event(stack)
        yield stack


def probe(stack: LocalStack, images: int = _PROBE_IMAGES) -> MachineTimings:
    """Two runs of `images` uploads: the first warms the consumer, the second measures it."""
    with tempfile.TemporaryDirectory() as scratch:
        paths = [sample.path for sample in generate_sample_images(Path(scratch), images, seed=11)]
        histories = []
        results: list[float] = []
        for round_ in range(2):
            keys = [_upload(stack, path, prefix=f"probe-{round_}/") for path in paths]
            arn = stack.start_batch_run()
            description = stack.wait_for_execution(arn, timeout=_CASE_TIMEOUT_SECONDS)
            if description["status"] != "SUCCEEDED":
                raise RuntimeError(f"probe run {description['status']}: {description.get('cause')}")
            histories.append(_state_times(stack, arn, description))
            results = _analyzed_at(stack, keys)
    rate = (len(results) - 1) / (results[-1] - results[0])
    drain_poll = statistics.mean(_mean_gap(_times(history, READING)) for history in histories)
    warm = histories[1]
    drain_clock = _times(warm, READING)[0] - drain_poll
    # The warm run's first result came this long after the drain's clock started: an image's time in flight
    # (pollers waking, the invocation, the analysis). The rest of the backlog followed at the drain rate.
    in_flight = max(1 / rate, results[0] - drain_clock)
    return MachineTimings(
        start_poll_seconds=statistics.mean(_start_poll(history) for history in histories),
        drain_poll_seconds=drain_poll,
        run_setup_seconds=statistics.mean(
            _times(history, START_CALL)[0] - _times(history, "@start")[0] for history in histories
        ),
        consumer_enable_seconds=statistics.mean(
            _times(history, READING)[0] - drain_poll - _times(history, RUNNING_SEEN)[0]
            for history in histories
        ),
        consumer_lag_seconds=0.0,
        consumer_disable_seconds=statistics.mean(
            _times(history, STOP_CALL)[0] - _times(history, READING)[-1] for history in histories
        ),
        images_per_second=rate,
        in_flight_seconds=in_flight,
    )


def measure(stack: LocalStack, case: LocalCase) -> CaseMeasurement:
    if isinstance(case, RunCase):
        return _measure_runs(stack, case)
    return _measure_scheduled(stack, case)


def _measure_runs(stack: LocalStack, case: RunCase) -> CaseMeasurement:
    """Upload each batch, then fire a run and wait for its end."""
    assert stack.emulator is not None
    before = stack.emulator.model_report()["usage"]
    uploaded: list[float] = []
    fires: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        paths = iter(generate_sample_images(Path(scratch), sum(case.batches), seed=5))
        origin = time.time()
        for number, size in enumerate(case.batches):
            time.sleep(_QUIET_SECONDS)
            for _ in range(size):
                began = time.time()
                _upload(stack, next(paths).path, prefix=f"{case.name}-{number}/")
                uploaded.append((began + time.time()) / 2 - origin)
            fires.append(time.time() - origin)
            description = stack.wait_for_execution(stack.start_batch_run(), timeout=_CASE_TIMEOUT_SECONDS)
            if description["status"] != "SUCCEEDED":
                raise RuntimeError(
                    f"case {case.name}: run {description['status']}: {description.get('cause')}"
                )
    after = stack.emulator.model_report()["usage"]
    return CaseMeasurement(
        case=case,
        uploads=tuple(uploaded),
        fires=tuple(fires),
        running_seconds=float(after["runningSeconds"] - before["runningSeconds"]),
        started_runs=int(after["startCalls"] - before["startCalls"]),
    )


def _measure_scheduled(stack: LocalStack, case: ScheduledCase) -> CaseMeasurement:
    """Upload the case's images and fire its schedule until every image has a result and no run is left."""
    assert stack.emulator is not None
    before = stack.emulator.model_report()["usage"]
    with tempfile.TemporaryDirectory() as scratch:
        paths = [sample.path for sample in generate_sample_images(Path(scratch), len(case.uploads), seed=5)]
        origin = time.time()
        uploaded: list[float] = []
        keys: list[str] = []
        uploader = threading.Thread(
            target=_upload_on_time, args=(stack, paths, case, origin, uploaded, keys), daemon=True
        )
        uploader.start()
        fires: list[float] = []
        arns: list[str] = []
        tick = case.first_tick_seconds
        deadline = origin + case.uploads[-1] + _CASE_TIMEOUT_SECONDS
        while True:
            _sleep_until(origin + tick)
            if not uploader.is_alive() and _all_done(stack, keys, arns):
                break
            if time.time() > deadline:
                raise TimeoutError(f"case {case.name}: images still waiting after {_CASE_TIMEOUT_SECONDS} s")
            fires.append(time.time() - origin)
            arns.append(stack.start_batch_run())
            tick += case.tick_seconds
        uploader.join()
    after = stack.emulator.model_report()["usage"]
    return CaseMeasurement(
        case=case,
        uploads=tuple(uploaded),
        fires=tuple(fires),
        running_seconds=float(after["runningSeconds"] - before["runningSeconds"]),
        started_runs=int(after["startCalls"] - before["startCalls"]),
    )


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
    stack: LocalStack, timings: MachineTimings, settings: LocalSettings, case: LocalCase
) -> Comparison:
    measured = measure(stack, case)
    return Comparison(measured=measured, simulated_running_seconds=simulate(measured, timings, settings))


# -- helpers ------------------------------------------------------------------------------------------------


def _remove_test_event(stack: LocalStack) -> None:
    """Writing the bucket notification queued one s3:TestEvent; on AWS the README says to purge it."""
    sqs = stack.client("sqs")
    queue_url = stack.outputs["ImageQueueUrl"]
    for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    ):
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def _upload(stack: LocalStack, path: Path, prefix: str) -> str:
    outputs = stack.outputs
    key = f"{outputs['InputPrefix']}{prefix}{path.name}"
    stack.client("s3").put_object(Bucket=outputs["ImageBucketName"], Key=key, Body=path.read_bytes())
    return key


def _upload_on_time(
    stack: LocalStack,
    paths: Sequence[Path],
    case: ScheduledCase,
    origin: float,
    uploaded: list[float],
    keys: list[str],
) -> None:
    for at, path in zip(case.uploads, paths, strict=True):
        _sleep_until(origin + at)
        began = time.time()
        keys.append(_upload(stack, path, prefix=f"{case.name}/"))
        # S3 queues the notification while the request is being served: the middle of the call is the
        # best estimate of when the message appeared.
        uploaded.append((began + time.time()) / 2 - origin)


def _all_done(stack: LocalStack, keys: Sequence[str], arns: Sequence[str]) -> bool:
    sfn = stack.client("stepfunctions")
    if any(sfn.describe_execution(executionArn=arn)["status"] == "RUNNING" for arn in arns):
        return False
    return len(_analyzed_at(stack, keys)) == len(keys)


def _analyzed_at(stack: LocalStack, image_keys: Sequence[str]) -> list[float]:
    """Epoch seconds at which each image's result says it was analyzed, sorted (none for images without)."""
    s3 = stack.client("s3")
    outputs = stack.outputs
    bucket, input_prefix, results_prefix = (
        outputs["ImageBucketName"],
        outputs["InputPrefix"],
        outputs["ResultsPrefix"],
    )
    times = []
    for key in image_keys:
        result_key = results_prefix + key[len(input_prefix) :] + ".json"
        try:
            body = s3.get_object(Bucket=bucket, Key=result_key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            continue
        analyzed = json.loads(body)["analyzedAt"]
        times.append(datetime.fromisoformat(analyzed.replace("Z", "+00:00")).timestamp())
    return sorted(times)


def _state_times(stack: LocalStack, arn: str, description: dict[str, Any]) -> dict[str, list[float]]:
    """Epoch seconds at which each visit of each state did its work, by state name: the middle of the visit,
    when a Task's call reached the service (under load a call takes tenths of a second). '@start' is the
    execution's start."""
    sfn = stack.client("stepfunctions")
    entered: dict[str, list[float]] = {}
    exited: dict[str, list[float]] = {}
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        for event in page["events"]:
            moment = event["timestamp"].timestamp()
            if details := event.get("stateEnteredEventDetails"):
                entered.setdefault(details["name"], []).append(moment)
            elif details := event.get("stateExitedEventDetails"):
                exited.setdefault(details["name"], []).append(moment)
    middles = {
        name: [(began + ended) / 2 for began, ended in zip(moments, exited.get(name, moments), strict=False)]
        for name, moments in entered.items()
    }
    return {"@start": [description["startDate"].timestamp()], **middles}


def _times(history: dict[str, list[float]], state: str) -> list[float]:
    if state not in history:
        raise LookupError(f"no '{state}' state in the run: the definition changed; update calibration.py")
    return history[state]


def _start_poll(history: dict[str, list[float]]) -> float:
    """The period of the polls after the start call: the k-th poll comes k periods after it."""
    started = _times(history, START_CALL)[0]
    polls = [moment for moment in _times(history, MODEL_POLL) if moment > started]
    return (polls[-1] - started) / len(polls)


def _mean_gap(times: Sequence[float]) -> float:
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    if not gaps:
        raise ValueError("need at least two polls to measure their period")
    return statistics.mean(gaps)


def _sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)
