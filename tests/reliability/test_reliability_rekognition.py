"""Faults of DetectCustomLabels: a saturated model that also throttles, transient 5xx, and records that fail
while others in the same batch succeed."""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from reliability.harness import FAST_MODEL, RecordRow, Scenario, StartScenario, check_invariants
from reliability.inputs import many, sample_bodies
from reliability.table import Sizes

# The reaper, invoked in-process, emits no metric when it leaves the model alone; Powertools warns about it.

# An image whose analysis failed comes back after the function's back-off, starting at this many seconds.
FAST_RETRIES = {"RetryDelaySeconds": "2"}


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    directory: Path = tmp_path_factory.mktemp("samples")
    return sample_bodies(directory, 10)


def upload_in_parallel(scenario: Scenario, uploads: list[tuple[str, bytes]]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda upload: scenario.upload(*upload), uploads))


def test_a_saturated_model_that_also_throttles_30_percent_still_answers_every_image(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], sizes: Sizes, record: RecordRow
) -> None:
    # Given a backlog far beyond what one inference unit takes per second, and 30% of the calls it admits
    # throttled on top
    capacity = 10 if sizes.throttled_images <= 100 else 20
    scenario = start_scenario(
        emulator=replace(FAST_MODEL, tps_per_inference_unit=capacity, throttle_fraction=0.3),
        parameters=FAST_RETRIES,
    )
    upload_in_parallel(scenario, many(samples, sizes.throttled_images, "throttled/"))

    # When one run drains it
    scenario.run(status="SUCCEEDED", outcome="processed")

    # Then the model pushed back many times (the injected throttles alone are 30% of the calls it admitted,
    # more than a fifth of the images), and still every image was answered once, in that run: a throttled
    # call is made again within the invocation, never failed
    assert scenario.stack.model_usage()["throttledCalls"] > 0.2 * sizes.throttled_images
    assert scenario.stack.retrying() == 0
    record(check_invariants(scenario, reaper="leaves alone"))


def test_transient_5xx_on_10_percent_of_calls_are_absorbed(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], sizes: Sizes, record: RecordRow
) -> None:
    # Given a model that answers InternalServerError to one call in ten
    scenario = start_scenario(
        emulator=replace(FAST_MODEL, transient_error_fraction=0.1), parameters=FAST_RETRIES
    )
    upload_in_parallel(scenario, many(samples, sizes.transient_images, "transient/"))

    # When one run drains the queue (and, should an image fail three times in a row, a later run retries it)
    scenario.run(status="SUCCEEDED", outcome="processed")
    scenario.run_retries()

    # Then the errors happened, and every image was answered once
    assert scenario.stack.model_usage()["errorsByCode"].get("InternalServerError", 0) > 0
    record(check_invariants(scenario, reaper="leaves alone"))


def test_records_that_raise_are_retried_alone(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], sizes: Sizes, record: RecordRow
) -> None:
    # Given a model that answers 5xx to 70% of calls, so that some images fail after the function's 3 tries
    scenario = start_scenario(
        emulator=replace(FAST_MODEL, transient_error_fraction=0.7),
        parameters=FAST_RETRIES,
        function_log_level="INFO",
    )
    upload_in_parallel(scenario, many(samples, sizes.partial_failure_images, "partial/"))

    # When a run drains the queue, the model recovers once records have failed, and later runs retry them
    pending = scenario.start_run()
    scenario.wait_until("a record to fail", lambda: bool(scenario.log.with_message("message failed")))
    scenario.set_model(transient_error_fraction=0.0)
    scenario.finish_run(pending, status="SUCCEEDED", outcome="processed")
    scenario.run_retries()

    # Then records failed, each with its image named in the log...
    failed = {
        match.group(1)
        for line in scenario.log.with_message("message failed")
        if (match := re.search(r"InternalServerError for s3://[^/]+/(.+)$", str(line["reason"])))
    }
    assert failed
    # ...each sent back for the function's back-off (2 s doubled per attempt), left to a later run rather than
    # kept waiting for by the model...
    delays = [line["retryAfterSeconds"] for line in scenario.log.with_message("message failed")]
    assert set(delays) <= {2, 4, 8, 16}
    # ...and only they were retried: every image was analyzed exactly once (none twice, as it would be if a
    # failure sent a whole batch back), the failed ones included. Counted from the function's log, not from
    # the result's S3 versions: the SDK retrying a PUT whose answer it lost also writes a second version.
    analyses = Counter(line["key"] for line in scenario.log.with_message("analyzed"))
    assert failed <= set(analyses)
    assert set(analyses.values()) == {1}
    assert {scenario.stack.expected_result_key(key) for key in analyses} == set(scenario.result_versions())
    record(check_invariants(scenario, reaper="leaves alone"))


def test_a_consumer_that_overruns_a_slow_model_still_answers_every_image_without_error(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], sizes: Sizes, record: RecordRow
) -> None:
    # Given a model that admits 2 calls a second and answers each in 200 ms, and a consumer configured for a
    # model ten times as fast (TpsPerInferenceUnit 20): it calls far more often than the model admits
    scenario = start_scenario(
        emulator=replace(FAST_MODEL, tps_per_inference_unit=2, latency_ms=200),
        parameters={"TpsPerInferenceUnit": "20"},
    )
    upload_in_parallel(scenario, many(samples, sizes.overrun_images, "overrun/"))

    # When one run drains the queue
    scenario.run(status="SUCCEEDED", outcome="processed")

    # Then the model refused many calls for capacity, and still every image was answered in that run, none
    # with an error result, none dead-lettered, none left to a retry: throttling is retried, never failed
    usage = scenario.stack.model_usage()
    assert usage["capacityThrottledCalls"] > sizes.overrun_images
    assert usage["errorCalls"] == 0
    assert (scenario.stack.retrying(), scenario.stack.dead_letters()) == (0, 0)
    record(check_invariants(scenario, reaper="leaves alone"))
