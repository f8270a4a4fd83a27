"""DetectCustomLabels admission: model readiness, capacity per inference unit, injected faults, latency."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from labelbatch.emulator import CustomLabelsEmulator, EmulatorSettings, RekognitionError


def blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (128, 96), (250, 250, 250)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def image_key(s3: Any, bucket: str) -> str:
    s3.put_object(Bucket=bucket, Key="blank.png", Body=blank_png())
    return "blank.png"


def detect_outcomes(stack: Any, bucket: str, key: str, calls: int) -> list[str]:
    """'ok' or the error code of each of `calls` DetectCustomLabels calls, in order."""
    rekognition = stack.client("rekognition")
    outcomes = []
    for _ in range(calls):
        try:
            rekognition.detect_custom_labels(
                ProjectVersionArn=stack.emulator.project_version_arn,
                Image={"S3Object": {"Bucket": bucket, "Name": key}},
            )
            outcomes.append("ok")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])
    return outcomes


@pytest.mark.parametrize("seconds_after_start", [None, 59.0])
def test_detect_before_running_is_resource_not_ready(
    stack: Any, bucket: str, image_key: str, seconds_after_start: float | None
) -> None:
    # Given a model that is STOPPED (never started) or still STARTING
    if seconds_after_start is not None:
        stack.client("rekognition").start_project_version(
            ProjectVersionArn=stack.emulator.project_version_arn, MinInferenceUnits=1
        )
        stack.clock.advance(seconds_after_start)

    # When an image is analyzed, Then ResourceNotReadyException
    assert detect_outcomes(stack, bucket, image_key, 1) == ["ResourceNotReadyException"]


def test_calls_beyond_capacity_in_one_second_are_throttled(stack: Any, bucket: str, image_key: str) -> None:
    # Given a running model with one inference unit at 2 TPS per unit, and a clock that does not move
    stack.start_and_wait(units=1)

    # When five calls arrive in the same instant
    outcomes = detect_outcomes(stack, bucket, image_key, 5)

    # Then two are served and three throttled
    assert outcomes == ["ok", "ok"] + ["ProvisionedThroughputExceededException"] * 3
    usage = stack.emulator.model_report()["usage"]
    assert (usage["successfulCalls"], usage["throttledCalls"]) == (2, 3)


def test_capacity_frees_up_after_a_rolling_second(stack: Any, bucket: str, image_key: str) -> None:
    # Given a running model whose capacity (2 calls) was used at t and again at t + 0.5 s
    stack.start_and_wait(units=1)
    assert detect_outcomes(stack, bucket, image_key, 1) == ["ok"]
    stack.clock.advance(0.5)
    assert detect_outcomes(stack, bucket, image_key, 2) == ["ok", "ProvisionedThroughputExceededException"]

    # When the first call is a second old, one slot is free again; half a second later, both are
    stack.clock.advance(0.5)
    assert detect_outcomes(stack, bucket, image_key, 2) == ["ok", "ProvisionedThroughputExceededException"]
    stack.clock.advance(1.0)
    assert detect_outcomes(stack, bucket, image_key, 3) == [
        "ok",
        "ok",
        "ProvisionedThroughputExceededException",
    ]


def test_capacity_scales_with_inference_units(stack: Any, bucket: str, image_key: str) -> None:
    # Given a running model with three inference units at 2 TPS per unit
    stack.start_and_wait(units=3)

    # When eight calls arrive in the same instant, Then six are served
    outcomes = detect_outcomes(stack, bucket, image_key, 8)
    assert outcomes.count("ok") == 6
    assert outcomes[6:] == ["ProvisionedThroughputExceededException"] * 2


def test_injected_throttling_and_transient_errors(stack: Any, bucket: str, image_key: str) -> None:
    # Given a running model that throttles every call
    stack.start_and_wait()
    stack.emulator.update_settings({"throttle_fraction": 1.0})
    assert detect_outcomes(stack, bucket, image_key, 1) == ["ProvisionedThroughputExceededException"]

    # When every call fails transiently instead
    stack.emulator.update_settings({"throttle_fraction": 0.0, "transient_error_fraction": 1.0})
    with pytest.raises(ClientError) as excinfo:
        stack.client("rekognition").detect_custom_labels(
            ProjectVersionArn=stack.emulator.project_version_arn,
            Image={"S3Object": {"Bucket": bucket, "Name": image_key}},
        )

    # Then the SDK sees InternalServerError as an HTTP 500 with a request id
    assert excinfo.value.response["Error"]["Code"] == "InternalServerError"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert excinfo.value.response["ResponseMetadata"]["RequestId"]
    usage = stack.emulator.model_report()["usage"]
    assert (usage["throttledCalls"], usage["errorsByCode"]) == (1, {"InternalServerError": 1})


def test_injected_faults_are_repeatable_for_a_seed(stack: Any, bucket: str, image_key: str) -> None:
    # Given a running model with ample capacity that throttles about half of the calls
    stack.emulator.update_settings({"tps_per_inference_unit": 1000.0, "throttle_fraction": 0.5})
    stack.start_and_wait()

    # When twenty calls go to it and twenty more to a second emulator built with the same seed
    first = detect_outcomes(stack, bucket, image_key, 20)
    replay = CustomLabelsEmulator(
        fetch_object=lambda bucket, key, version: blank_png(),
        settings=stack.emulator.settings,
        initial_status="RUNNING",
        clock=stack.clock,
        sleep=stack.sleeps.append,
    )
    request = {
        "ProjectVersionArn": replay.project_version_arn,
        "Image": {"S3Object": {"Bucket": bucket, "Name": "k"}},
    }
    second = []
    for _ in range(20):
        try:
            replay.detect_custom_labels(request)
            second.append("ok")
        except RekognitionError as error:
            second.append(error.code)

    # Then both throttle exactly the same calls, and some but not all
    assert second == first
    assert 0 < first.count("ProvisionedThroughputExceededException") < 20


def test_admitted_calls_take_the_configured_latency(stack: Any, bucket: str, image_key: str) -> None:
    # Given a running model with 250 ms latency and capacity for two calls
    stack.start_and_wait()
    stack.emulator.update_settings({"latency_ms": 250.0})

    # When three calls arrive at once
    outcomes = detect_outcomes(stack, bucket, image_key, 3)

    # Then the two admitted calls each slept 0.25 s and the throttled one did not wait
    assert outcomes == ["ok", "ok", "ProvisionedThroughputExceededException"]
    assert stack.sleeps == [0.25, 0.25]


def test_concurrent_calls_share_capacity_exactly(stack: Any, bucket: str, image_key: str) -> None:
    # Given a running model with capacity for five calls a second and a clock that does not move
    stack.emulator.update_settings({"tps_per_inference_unit": 5.0})
    stack.start_and_wait()
    rekognition = stack.client("rekognition")

    def call(_: int) -> str:
        try:
            rekognition.detect_custom_labels(
                ProjectVersionArn=stack.emulator.project_version_arn,
                Image={"S3Object": {"Bucket": bucket, "Name": image_key}},
            )
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "ok"

    # When twenty calls arrive from eight threads at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(call, range(20)))

    # Then exactly five are served and fifteen throttled
    assert outcomes.count("ok") == 5
    assert outcomes.count("ProvisionedThroughputExceededException") == 15


def test_latency_is_spent_outside_the_lock() -> None:
    # Given a running model whose latency "sleep" waits until a second call is sleeping too
    # (it could never get there if the first call slept while holding the emulator's lock)
    both_sleeping = threading.Barrier(2, timeout=5)

    def wait_for_the_other_call(seconds: float) -> None:
        both_sleeping.wait()

    emulator = CustomLabelsEmulator(
        fetch_object=lambda bucket, key, version: blank_png(),
        settings=EmulatorSettings(latency_ms=10.0),
        initial_status="RUNNING",
        clock=lambda: 0.0,
        sleep=wait_for_the_other_call,
    )
    request = {
        "ProjectVersionArn": emulator.project_version_arn,
        "Image": {"S3Object": {"Bucket": "b", "Name": "k"}},
    }

    # When two calls run at once, Then both complete
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: emulator.detect_custom_labels(request), range(2)))
    assert results == [{"CustomLabels": []}, {"CustomLabels": []}]
