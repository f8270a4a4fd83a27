"""Benchmark: how consumer concurrency changes drain time and billed model time on the local stack.

The model bills for every second it runs, so the figure that matters is billed inference-unit seconds per
image. For each ConsumerMaxConcurrency value this runs the same batch `--repeat` times on a fresh local stack
and reports medians, plus each setting's ratio to the first one. The emulator's capacity and latency stand in
for a real model: absolute numbers say nothing about AWS, the ratios show the shape.

    .venv/bin/python benchmarks/bench_pipeline.py --images 60 --repeat 3 --concurrency 2 5 10
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from labelbatch.emulator import EmulatorSettings
from labelbatch.images import generate_sample_images
from labelbatch.local.stack import LocalStack, LocalStackConfig


@dataclass(frozen=True)
class Sample:
    drain_seconds: float
    billed_unit_seconds: float
    throttled_calls: int


def run_once(images: list[Path], parameters: dict[str, str], emulator: EmulatorSettings) -> Sample:
    """One batch run over `images` on a fresh local stack (poll 1 s), measured by the emulator."""
    config = LocalStackConfig(
        port=0,
        schedule=False,
        poll_seconds=1,
        function_log_level="ERROR",
        parameters=parameters,
        emulator=emulator,
    )
    with LocalStack(config) as stack:
        outputs = stack.outputs
        s3 = stack.client("s3")
        for path in images:
            s3.put_object(
                Bucket=outputs["ImageBucketName"],
                Key=outputs["InputPrefix"] + path.name,
                Body=path.read_bytes(),
            )
        started = time.monotonic()
        description = stack.wait_for_execution(stack.start_batch_run(), timeout=900)
        elapsed = time.monotonic() - started
        if description["status"] != "SUCCEEDED":
            raise RuntimeError(f"batch run {description['status']}: {description.get('cause')}")
        assert stack.emulator is not None
        usage = stack.emulator.model_report()["usage"]
        return Sample(elapsed, float(usage["billedInferenceUnitSeconds"]), int(usage["throttledCalls"]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 5, 10])
    parser.add_argument("--latency-ms", type=int, default=100, help="emulated DetectCustomLabels latency")
    parser.add_argument("--tps", type=float, default=20.0, help="emulated capacity per inference unit")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        images = [sample.path for sample in generate_sample_images(Path(scratch), arguments.images, seed=7)]
        print(
            f"{arguments.images} images, {arguments.repeat} runs per setting, "
            f"latency {arguments.latency_ms} ms, capacity {arguments.tps} TPS per inference unit, "
            "1 inference unit, poll 1 s"
        )
        header = ("concurrency", "run s (median)", "billed unit-s/image", "throttled", "ratio")
        print("{:>11} {:>15} {:>20} {:>9} {:>6}".format(*header))
        baseline: float | None = None
        for concurrency in arguments.concurrency:
            emulator = EmulatorSettings(
                start_seconds=1,
                stop_seconds=1,
                latency_ms=arguments.latency_ms,
                tps_per_inference_unit=arguments.tps,
            )
            samples = [
                run_once(images, {"ConsumerMaxConcurrency": str(concurrency)}, emulator)
                for _ in range(arguments.repeat)
            ]
            run_seconds = statistics.median(s.drain_seconds for s in samples)
            per_image = statistics.median(s.billed_unit_seconds for s in samples) / arguments.images
            throttled = int(statistics.median(s.throttled_calls for s in samples))
            baseline = baseline or per_image
            ratio = per_image / baseline
            print(f"{concurrency:>11} {run_seconds:>15.1f} {per_image:>20.3f} {throttled:>9} {ratio:>6.2f}")


if __name__ == "__main__":
    main()
