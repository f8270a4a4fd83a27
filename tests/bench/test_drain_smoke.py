"""make test's form of make bench: one small run of each drain benchmark, for its figures, not its timings."""

from __future__ import annotations

import drain


def test_the_drain_benchmarks_measure_every_figure_and_lose_nothing() -> None:
    # When the smoke form of the drain benchmarks runs (20 images on one unit, then the same overrun four
    # times over with 30% of calls throttled on top)
    document = drain.run(smoke=True)

    # Then every run answered every image, dead-lettered none, left none waiting and timed out no invocation,
    # and each reports the figures PERFORMANCE.md gives (their values depend on the machine: not asserted)
    rows = document["throughput"] + document["saturation"]
    for row in rows:
        assert row["run_status"] == "SUCCEEDED"
        assert (row["images_answered"], row["error_results"]) == (20, 0)
        assert (row["lost"], row["dead_lettered"], row["still_waiting"]) == (0, 0, 0)
        assert row["invocations_timed_out"] == 0
        # at least one answered call per image (a call whose answer was lost to a timeout is made again)
        assert row["successful_calls"] >= 20
        assert row["throughput_ratio"] > 0
        assert row["running_seconds"] > row["floor_seconds"] == 4.0
        assert {"model", "lambda", "sqs", "s3", "stepFunctions"} == set(row["costPer1000Images"])
        assert row["requestsPerImage"]["s3"] > 0
        assert row["requestsPerImage"]["sqs"] > 0
        assert row["state_transitions"] > 0
    # the saturated run was refused calls, which it retried within its invocations
    assert document["saturation"][0]["throttled_calls"] > 0
