"""make bench: how close a batch run comes to the model's capacity, what it bills beyond the floor, and what
it costs per image (issue 7's benchmarks), on the local stack: the real template, definition and handlers,
with the figures taken from the Custom Labels emulator's usage accounting and the endpoint's request counts.

The floor is physical: N images on a model that serves C images a second need N / C seconds RUNNING.

1. Throughput: drain throughput / capacity (successful calls over what the model could admit between the first
   call and the last answer), throttled calls / all calls, and images lost, dead-lettered or answered with an
   error; at 1, 2, 4 and 8 inference units and with auto-scaling.
2. Saturation: the consumer's concurrency override at 4x what capacity needs, and 30% of calls throttled on
   top.
3. Billed overhead: RUNNING time minus N / C, in seconds and in poll intervals, for several N; and the demo's.
4. Requests per image and state transitions per run, and the cost per 1,000 images at list prices.

Nothing here is asserted: the machine is shared and noisy. Each figure says the settings it was measured with;
bench/results.json keeps them all, with the machine and the command.

    .venv/bin/python bench/drain.py            # every benchmark (about 40 minutes)
    .venv/bin/python bench/drain.py --smoke    # one small run of each kind (what `make test` runs)
    .venv/bin/python bench/drain.py --document # rewrite docs/PERFORMANCE.md's tables from bench/results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from generated_section import replace_section
from labelbatch.emulator import EmulatorSettings
from labelbatch.images import generate_sample_images
from labelbatch.local.stack import LocalStack, LocalStackConfig

RESULTS = Path(__file__).resolve().parent / "results.json"
DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "PERFORMANCE.md"
BEGIN, END = "<!-- drain:begin (bench/drain.py writes this part) -->", "<!-- drain:end -->"
# us-east-1 list prices (AWS pricing pages): what each request or second of a run costs.
PRICES = {
    "inferenceUnitHour": 4.00,  # Rekognition Custom Labels, per inference unit and hour RUNNING
    "lambdaRequest": 0.20 / 1e6,
    "lambdaGbSecond": 0.0000166667,  # x86_64
    "sqsRequest": 0.40 / 1e6,  # standard queue
    "s3Put": 0.005 / 1000,
    "s3Get": 0.0004 / 1000,  # GET and HEAD; Rekognition reads each image once per analysis
    "stateTransition": 0.025 / 1000,
}
FUNCTION_MEMORY_GB = 256 / 1024
TPS_PER_UNIT = 5.0
LATENCY_MS = 100.0
POLL_SECONDS = 2
POISON_KEY = "poison"


@dataclass(frozen=True)
class Setting:
    """One benchmarked configuration: the model the emulator plays and the stack's parameters."""

    images: int
    units: int = 2
    max_units: int | None = None
    concurrency_override: int | None = None
    throttle_fraction: float = 0.0
    tps_per_unit: float = TPS_PER_UNIT
    latency_ms: float = LATENCY_MS
    poll_seconds: int = POLL_SECONDS
    start_seconds: float = 1.0
    poison: bool = False
    """One more image, whose every analysis fails (the emulator answers InternalServerError)."""

    @property
    def capacity_per_second(self) -> float:
        return self.tps_per_unit * self.units


@dataclass
class Measurement:
    setting: Setting
    run_status: str
    images_answered: int
    error_results: int
    dead_lettered: int
    still_waiting: int
    lost: int
    successful_calls: int
    calls: int
    capacity_throttled_calls: int
    throttled_calls: int
    throughput_ratio: float
    running_seconds: float
    billed_unit_seconds: float
    floor_seconds: float
    invocations: int
    invocations_timed_out: int
    invocation_seconds: float
    requests: dict[str, int]
    state_transitions: int
    overhead_seconds: float = field(init=False)
    overhead_polls: float = field(init=False)

    def __post_init__(self) -> None:
        self.overhead_seconds = self.running_seconds - self.floor_seconds
        self.overhead_polls = self.overhead_seconds / self.setting.poll_seconds

    def cost_per_1000_images(self) -> dict[str, float]:
        per_image = 1000 / max(self.setting.images, 1)
        requests = self.requests
        parts = {
            "model": self.billed_unit_seconds / 3600 * PRICES["inferenceUnitHour"],
            "lambda": self.invocations * PRICES["lambdaRequest"]
            + self.invocation_seconds * FUNCTION_MEMORY_GB * PRICES["lambdaGbSecond"],
            "sqs": requests.get("sqs", 0) * PRICES["sqsRequest"],
            "s3": requests.get("s3", 0) * PRICES["s3Put"] + self.successful_calls * PRICES["s3Get"],
            "stepFunctions": self.state_transitions * PRICES["stateTransition"],
        }
        return {name: value * per_image for name, value in parts.items()}


def sample_bodies(count: int) -> list[bytes]:
    with tempfile.TemporaryDirectory() as scratch:
        return [sample.path.read_bytes() for sample in generate_sample_images(Path(scratch), count, seed=11)]


@contextmanager
def local_stack(setting: Setting) -> Iterator[LocalStack]:
    parameters = {"MinInferenceUnits": str(setting.units)}
    if setting.max_units is not None:
        parameters["MaxInferenceUnits"] = str(setting.max_units)
    if setting.concurrency_override is not None:
        parameters["ConsumerMaxConcurrency"] = str(setting.concurrency_override)
    config = LocalStackConfig(
        port=0,
        schedule=False,
        poll_seconds=setting.poll_seconds,
        function_log_level="ERROR",
        function_metrics=False,
        parameters=parameters,
        emulator=EmulatorSettings(
            start_seconds=setting.start_seconds,
            stop_seconds=1,
            tps_per_inference_unit=setting.tps_per_unit,
            latency_ms=setting.latency_ms,
            throttle_fraction=setting.throttle_fraction,
            failing_key=POISON_KEY if setting.poison else "",
        ),
    )
    with LocalStack(config) as stack:
        yield stack


def measure(setting: Setting, bodies: list[bytes]) -> Measurement:
    """One batch run over `setting.images` images on a fresh local stack."""
    with local_stack(setting) as stack:
        outputs = stack.outputs
        s3, sqs = stack.client("s3"), stack.client("sqs")
        # The deployment's s3:TestEvent: a fresh stack's first run removes it, which is not what is measured.
        sqs.purge_queue(QueueUrl=outputs["ImageQueueUrl"])
        keys = [f"{outputs['InputPrefix']}bench/{index:05d}.png" for index in range(setting.images)]
        if setting.poison:
            keys.append(f"{outputs['InputPrefix']}bench/{POISON_KEY}.png")
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(
                pool.map(
                    lambda item: s3.put_object(
                        Bucket=outputs["ImageBucketName"], Key=item[1], Body=bodies[item[0] % len(bodies)]
                    ),
                    enumerate(keys),
                )
            )
        requests_before = stack.requests()
        description = stack.wait_for_execution(stack.start_batch_run(), timeout=3 * 3600)
        requests = stack.requests() - requests_before
        results = _results(stack, outputs)
        assert stack.emulator is not None
        usage = stack.emulator.model_report()["usage"]
        consumer = stack.consumer_stats()
        transitions = _state_transitions(stack, description["executionArn"])
        first, last = usage["firstCallAt"], usage["lastAnswerAt"]
        answered_at_all = first is not None and last is not None
        capacity = stack.emulator.capacity_calls(first, last) if answered_at_all else 0.0
        dead_lettered = _count(sqs, outputs["DeadLetterQueueUrl"])
        # Images a retry left to the next run are not lost: they wait on the queue.
        still_waiting = _count(sqs, outputs["ImageQueueUrl"])
        return Measurement(
            setting=setting,
            run_status=str(description["status"]),
            images_answered=len(results),
            error_results=sum(1 for status in results.values() if status == "error"),
            dead_lettered=dead_lettered,
            still_waiting=still_waiting,
            lost=len(keys) - len(results) - dead_lettered - still_waiting,
            successful_calls=int(usage["successfulCalls"]),
            calls=int(usage["detectCustomLabelsCalls"]),
            capacity_throttled_calls=int(usage["capacityThrottledCalls"]),
            throttled_calls=int(usage["throttledCalls"]),
            throughput_ratio=usage["successfulCalls"] / capacity if capacity else 0.0,
            running_seconds=float(usage["runningSeconds"]),
            billed_unit_seconds=float(usage["billedInferenceUnitSeconds"]),
            floor_seconds=setting.images / setting.capacity_per_second,
            invocations=consumer.invocations,
            invocations_timed_out=consumer.timed_out,
            invocation_seconds=consumer.seconds,
            requests=dict(requests),
            state_transitions=transitions,
        )


def idle_run_transitions() -> int:
    """State transitions of a run that finds nothing to do (what every hourly tick costs)."""
    with local_stack(Setting(images=0)) as stack:
        stack.client("sqs").purge_queue(QueueUrl=stack.outputs["ImageQueueUrl"])
        description = stack.wait_for_execution(stack.start_batch_run())
        return _state_transitions(stack, description["executionArn"])


def _state_transitions(stack: LocalStack, execution_arn: str) -> int:
    """What Step Functions bills: one transition per state entered (nested states included)."""
    paginator = stack.client("stepfunctions").get_paginator("get_execution_history")
    pages = paginator.paginate(executionArn=execution_arn)
    return sum(1 for page in pages for event in page["events"] if "stateEnteredEventDetails" in event)


def _results(stack: LocalStack, outputs: dict[str, str]) -> dict[str, str]:
    s3 = stack.client("s3")
    statuses: dict[str, str] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=outputs["ImageBucketName"], Prefix=outputs["ResultsPrefix"]
    ):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=outputs["ImageBucketName"], Key=item["Key"])["Body"].read()
            statuses[item["Key"]] = json.loads(body)["status"]
    return statuses


def _count(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return sum(
        int(attributes[name])
        for name in (
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )
    )


def demo_overhead() -> Measurement:
    """The demo's run: 12 images on the demo's model (10 images a second, 50 ms, 3 s start), polls of 1 s."""
    demo = Setting(images=12, units=1, tps_per_unit=10.0, latency_ms=50.0, poll_seconds=1, start_seconds=3.0)
    return measure(demo, sample_bodies(12))


def plan(smoke: bool) -> dict[str, list[Setting]]:
    if smoke:
        return {
            "throughput": [Setting(images=20, units=1)],
            "saturation": [Setting(images=20, units=1, concurrency_override=10, throttle_fraction=0.3)],
        }
    return {
        "throughput": [
            *(Setting(images=2000, units=units) for units in (1, 2, 4, 8)),
            Setting(images=2000, units=1, max_units=4),
        ],
        # 2 units need 10 concurrent invocations (5 calls a second each); the override gives four times that.
        "saturation": [Setting(images=2000, units=2, concurrency_override=40, throttle_fraction=0.3)],
        "overhead": [
            *(Setting(images=images, units=2) for images in (10, 100, 1000, 5000)),
            Setting(images=100, units=2, poison=True),
        ],
    }


def run(smoke: bool) -> dict[str, Any]:
    """Every measurement of the plan, as bench/results.json keeps them."""
    bodies = sample_bodies(20)
    sections: dict[str, Any] = {}
    for name, settings in plan(smoke).items():
        sections[name] = []
        for setting in settings:
            started = time.monotonic()
            result = measure(setting, bodies)
            sections[name].append(_row(result))
            print(f"{name}: {_summary(result)} ({time.monotonic() - started:.0f} s)", flush=True)
    if not smoke:
        sections["demo"] = [_row(demo_overhead())]
        sections["idleRunTransitions"] = idle_run_transitions()
        idle = sections["idleRunTransitions"]
        print(f"demo: {_summary_row(sections['demo'][0])}; idle run: {idle} transitions")
    return {
        "command": "bench/drain.py --smoke" if smoke else "make bench",
        "measuredAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "prices": PRICES,
        **sections,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="one small run of each kind, printed only")
    parser.add_argument("--document", action="store_true", help="only rewrite the tables from --out")
    parser.add_argument("--out", type=Path, default=RESULTS)
    arguments = parser.parse_args()
    if not arguments.document:
        document = run(arguments.smoke)
        if arguments.smoke:
            print(json.dumps(document, indent=2))
            return
        _merge(arguments.out, "drain", document)
    write_tables(json.loads(arguments.out.read_text())["drain"])


def _row(result: Measurement) -> dict[str, Any]:
    row = asdict(result)
    row["costPer1000Images"] = result.cost_per_1000_images()
    row["requestsPerImage"] = {
        service: count / max(result.setting.images, 1) for service, count in sorted(result.requests.items())
    }
    row["requestsPerImage"]["lambda invocations"] = result.invocations / max(result.setting.images, 1)
    return row


def _summary(result: Measurement) -> str:
    return _summary_row(_row(result))


def _summary_row(row: dict[str, Any]) -> str:
    setting = row["setting"]
    calls = max(row["calls"], 1)
    return (
        f"{setting['images']} images, {setting['units']} units"
        + (f" (max {setting['max_units']})" if setting["max_units"] else "")
        + f": throughput/capacity {row['throughput_ratio']:.3f}, "
        f"capacity-throttled {row['capacity_throttled_calls'] / calls:.1%}, all throttled "
        f"{row['throttled_calls'] / calls:.1%}, overhead {row['overhead_seconds']:.1f} s "
        f"({row['overhead_polls']:.1f} polls), lost/dead-lettered/waiting/errors {row['lost']}/"
        f"{row['dead_lettered']}/{row['still_waiting']}/{row['error_results']}, "
        f"timed out {row['invocations_timed_out']}, run {row['run_status']}"
    )


def _merge(path: Path, section: str, document: dict[str, Any]) -> None:
    """bench/results.json holds every benchmark's section: this one replaces its own, keeps the others."""
    existing: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    existing[section] = document
    path.write_text(json.dumps(existing, indent=2) + "\n")
    print(f"written to {path}")


def write_tables(document: dict[str, Any]) -> None:
    """docs/PERFORMANCE.md's drain tables, from bench/results.json's "drain" section."""
    machine = document["machine"]
    generated = "\n".join(
        [
            BEGIN,
            f"Measured {document['measuredAt']} by `{document['command']}` on {machine['cpus']} CPUs, "
            f"Python {machine['python']}. Every run: the emulator's model at {TPS_PER_UNIT:g} images/s per "
            f"inference unit and {LATENCY_MS:g} ms a call, a 1 s start, PollIntervalSeconds {POLL_SECONDS}, "
            "the template's defaults otherwise. Throughput is successful calls over what the model could "
            "admit between the first call and the last answer; around the drain is RUNNING time outside that "
            "span (finding the model RUNNING, the consumer's first call, finding the queue empty, the stop).",
            "",
            "### 1-2. Throughput and saturation",
            "",
            _throughput_table([*document["throughput"], *document["saturation"]]),
            "",
            "### 3. Billed overhead: RUNNING time minus N / C",
            "",
            _overhead_table([*document["overhead"], *document["demo"]]),
            "",
            "### 4. Requests per image and cost per 1,000 images",
            "",
            _requests_table(document["overhead"]),
            "",
            f"An idle run (nothing waiting) makes {document['idleRunTransitions']} state transitions.",
            END,
        ]
    )
    replace_section(DOCUMENT, BEGIN, END, generated)
    print(f"wrote {DOCUMENT}")


def _model(setting: dict[str, Any]) -> str:
    units = str(setting["units"])
    if setting["max_units"]:
        units += f" (auto-scaling to {setting['max_units']})"
    extras = []
    if setting["concurrency_override"]:
        extras.append(f"concurrency {setting['concurrency_override']}")
    if setting["throttle_fraction"]:
        extras.append(f"{setting['throttle_fraction']:.0%} throttled on top")
    if setting["poison"]:
        extras.append("and one image that fails every time")
    return units + (", " + ", ".join(extras) if extras else "")


def _throughput_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| Inference units | Images | Throughput / capacity | Throttled calls (at capacity / all) "
        "| Lost, dead-lettered, error results | Invocations timed out |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        calls = max(row["calls"], 1)
        lines.append(
            f"| {_model(row['setting'])} | {row['setting']['images']:,} | {row['throughput_ratio']:.3f} "
            f"| {row['capacity_throttled_calls'] / calls:.1%} / {row['throttled_calls'] / calls:.1%} "
            f"| {row['lost']}, {row['dead_lettered']}, {row['error_results']} "
            f"| {row['invocations_timed_out']} |"
        )
    return "\n".join(lines)


def _overhead_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| Images | Model | Floor N / C | RUNNING | Overhead | Around the drain | Throughput / capacity |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        setting = row["setting"]
        poll = setting["poll_seconds"]
        capacity = setting["tps_per_unit"] * setting["units"]
        ratio = row["throughput_ratio"]
        # The span from the first call to the last answer, at constant units (the overhead runs' case).
        drain = row["successful_calls"] / ratio / capacity if ratio else 0.0
        around = row["running_seconds"] - drain
        lines.append(
            f"| {setting['images']:,} | {_model(setting)}, poll {poll} s"
            + (" (the demo's model)" if setting["tps_per_unit"] != TPS_PER_UNIT else "")
            + f" | {row['floor_seconds']:.1f} s | {row['running_seconds']:.1f} s "
            f"| {row['overhead_seconds']:.1f} s ({row['overhead_polls']:.1f} polls) "
            f"| {around:.1f} s ({around / poll:.1f} polls) | {row['throughput_ratio']:.3f} |"
        )
    return "\n".join(lines)


def _requests_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| Images | S3 | SQS | Rekognition | Lambda invocations | State transitions (run) "
        "| USD per 1,000 images (model; all else) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if row["setting"]["poison"]:
            continue
        per_image = row["requestsPerImage"]
        cost = row["costPer1000Images"]
        rest = sum(value for name, value in cost.items() if name != "model")
        lines.append(
            f"| {row['setting']['images']:,} | {per_image.get('s3', 0):.2f} | {per_image.get('sqs', 0):.2f} "
            f"| {per_image.get('rekognition', 0):.2f} | {per_image['lambda invocations']:.2f} "
            f"| {row['state_transitions']} | {cost['model']:.4f}; {rest:.4f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
