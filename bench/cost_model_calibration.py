"""The cost simulation against measured local-stack runs, case by case (make bench).

Re-run it whenever the batch-run definition changes, with the drain's number of empty readings:

    .venv/bin/python bench/cost_model_calibration.py --empty-readings 2              # today's definition
    .venv/bin/python bench/cost_model_calibration.py --empty-readings 1 --scheduled  # after issue 7

--scheduled adds the same patterns on a clock (uploads during runs, ticks on a period), which the test leaves
out: on a loaded machine the local stack's uploads take up to a second each, which blurs when an image
arrived. Nothing here is asserted; it prints the machine's measured timings and one line per case.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

from labelbatch.planning.calibration import (
    EMPTY_READINGS_TO_END,
    LocalCase,
    LocalSettings,
    calibration_stack,
    compare,
    probe,
    run_cases,
    scheduled_cases,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--empty-readings", type=int, default=EMPTY_READINGS_TO_END)
    parser.add_argument("--scheduled", action="store_true", help="also run the patterns on a clock")
    arguments = parser.parse_args()
    settings = LocalSettings(empty_readings_to_end=arguments.empty_readings)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {settings}")
    cases: list[LocalCase] = [*run_cases(), *(scheduled_cases() if arguments.scheduled else [])]
    began = time.monotonic()
    with calibration_stack(settings) as stack:
        timings = probe(stack, settings)
        print("timings: " + ", ".join(f"{k} {v:.3f}" for k, v in dataclasses.asdict(timings).items()))
        print(f"{'case':>18} {'runs':>5} {'measured s':>11} {'simulated s':>12} {'error':>7}")
        measured_total = simulated_total = 0.0
        for case in cases:
            comparison = compare(stack, timings, settings, case)
            measured = comparison.measured
            label = f"{type(case).__name__.removesuffix('Case').lower()} {case.name}"
            print(
                f"{label:>18} {measured.started_runs:>5} {measured.running_seconds:>11.2f} "
                f"{comparison.simulated_running_seconds:>12.2f} {comparison.relative_error:>+7.1%}"
            )
            measured_total += measured.running_seconds
            simulated_total += comparison.simulated_running_seconds
        print(
            f"{'total':>18} {'':>5} {measured_total:>11.2f} {simulated_total:>12.2f} "
            f"{simulated_total / measured_total - 1:>+7.1%}   ({time.monotonic() - began:.0f} s)"
        )


if __name__ == "__main__":
    main()
