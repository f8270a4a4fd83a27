"""The simulation's model of this application against measured runs of the same uploads on the local stack.

The probe measures this machine's constants (poll periods, the steps around the drain, the drain rate, an
image's time in flight) from runs of its own; each case is then measured and predicted independently. The
local stack's step timings follow the machine's load: at load 8 (inside the parallel suite) the bursts case
measured 39% above the simulation, the probe's timings no longer holding minutes later. So this tier runs
alone (`make test-calibration`), not in `make test`. If state names change, change them at the top of
labelbatch/planning/calibration.py; bench/cost_model_calibration.py prints the same comparison case by case.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labelbatch.planning.calibration import (
    EMPTY_READINGS_TO_END,
    CalibrationStack,
    LocalSettings,
    MachineTimings,
    calibration_stack,
    compare,
    probe,
    run_cases,
)

SETTINGS = LocalSettings(empty_readings_to_end=EMPTY_READINGS_TO_END)


@pytest.fixture(scope="module")
def calibrated() -> Iterator[tuple[CalibrationStack, MachineTimings]]:
    with calibration_stack(SETTINGS) as stack:
        yield stack, probe(stack, SETTINGS)


def test_the_simulation_predicts_measured_model_time(
    calibrated: tuple[CalibrationStack, MachineTimings],
) -> None:
    # Given this machine's timings, measured by the probe
    stack, timings = calibrated
    # When the scaled-down trickle, bursts and drop run on the local stack
    comparisons = [compare(stack, timings, SETTINGS, case) for case in run_cases()]
    # Then the simulation of the same uploads and fires bills the same RUNNING time
    report = "; ".join(
        f"{c.measured.case.name}: measured {c.measured.running_seconds:.2f} s, "
        f"simulated {c.simulated_running_seconds:.2f} s ({c.relative_error:+.1%})"
        for c in comparisons
    )
    measured = sum(c.measured.running_seconds for c in comparisons)
    simulated = sum(c.simulated_running_seconds for c in comparisons)
    # Over the scaled month within 10%; a case alone within 15%: on a shared machine a run's steps jitter by
    # tenths of a second, a few percent of a case's model time.
    assert simulated == pytest.approx(measured, rel=0.10), report
    for comparison in comparisons:
        assert abs(comparison.relative_error) <= 0.15, report
    # Every run the simulation expects started the model, and no other.
    assert [c.measured.started_runs for c in comparisons] == [len(c.measured.fires) for c in comparisons]
