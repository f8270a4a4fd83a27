"""Benchmark: what failed records cost in billed model time, by RetryDelaySeconds.

A record that fails (here: a model answering InternalServerError to a share of calls, beyond the SDK's own
three attempts) comes back after the function's back-off; until it does, the batch run keeps the model running
to drain it. This runs the same batch once per RetryDelaySeconds value and reports the billed inference-unit
seconds per run and their ratio to the first value. 300 s is the back-off's cap and stands for the
queue's own 360 s visibility timeout, which is what a failed message waited before the back-off existed.

    .venv/bin/python benchmarks/bench_retries.py --images 20 --error-fraction 0.5 --retry-delay 10 300
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench_pipeline import run_once
from labelbatch.emulator import EmulatorSettings
from labelbatch.images import generate_sample_images


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--error-fraction", type=float, default=0.5, help="share of calls answering 5xx")
    parser.add_argument("--retry-delay", type=int, nargs="+", default=[10, 300])
    arguments = parser.parse_args()

    emulator = EmulatorSettings(
        start_seconds=1, stop_seconds=1, latency_ms=100, transient_error_fraction=arguments.error_fraction
    )
    with tempfile.TemporaryDirectory() as scratch:
        images = [sample.path for sample in generate_sample_images(Path(scratch), arguments.images, seed=7)]
        print(
            f"{arguments.images} images, {arguments.repeat} runs per setting, {arguments.error_fraction:.0%} "
            "of calls answer InternalServerError, latency 100 ms, 1 inference unit, poll 1 s"
        )
        header = ("retry delay s", "run s (median)", "billed unit-s/run", "ratio")
        print("{:>13} {:>15} {:>18} {:>6}".format(*header))
        baseline: float | None = None
        for delay in arguments.retry_delay:
            samples = [
                run_once(images, {"RetryDelaySeconds": str(delay)}, emulator) for _ in range(arguments.repeat)
            ]
            run_seconds = statistics.median(s.drain_seconds for s in samples)
            billed = statistics.median(s.billed_unit_seconds for s in samples)
            baseline = baseline or billed
            print(f"{delay:>13} {run_seconds:>15.1f} {billed:>18.1f} {billed / baseline:>6.2f}")


if __name__ == "__main__":
    main()
