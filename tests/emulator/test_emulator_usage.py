"""Usage accounting: running time, billed inference-unit seconds, calls, throttles and errors."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image


def test_usage_adds_up_across_two_runs(stack: Any, s3: Any, bucket: str) -> None:
    # Given an image in S3 and a model started with 2 inference units
    buffer = io.BytesIO()
    Image.new("RGB", (100, 100), (250, 250, 250)).save(buffer, format="PNG")
    s3.put_object(Bucket=bucket, Key="a.png", Body=buffer.getvalue())
    rekognition = stack.client("rekognition")
    arn = stack.emulator.project_version_arn
    image = {"S3Object": {"Bucket": bucket, "Name": "a.png"}}

    def outcome(request_image: dict[str, Any]) -> str:
        try:
            rekognition.detect_custom_labels(ProjectVersionArn=arn, Image=request_image)
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "ok"

    # When one call is made while STARTING, five at one instant once RUNNING (capacity 4: one throttled),
    # one a second later for a missing object, and the model is stopped after 100 s RUNNING
    rekognition.start_project_version(ProjectVersionArn=arn, MinInferenceUnits=2)
    outcomes = [outcome(image)]
    stack.clock.advance(60.0 + 99.0)
    burst_at = stack.clock()
    outcomes += [outcome(image) for _ in range(5)]
    stack.clock.advance(1.0)
    outcomes.append(outcome({"S3Object": {"Bucket": bucket, "Name": "gone.png"}}))
    rekognition.stop_project_version(ProjectVersionArn=arn)

    # And then it runs again with 1 unit for 40 s, with the report read while it runs
    stack.clock.advance(30.0)
    rekognition.start_project_version(ProjectVersionArn=arn, MinInferenceUnits=1)
    stack.clock.advance(60.0 + 40.0)
    usage = stack.emulator.model_report()["usage"]

    # Then running time counts only RUNNING time, billed time weighs it by the units in use,
    # and every call is counted once under its outcome
    assert outcomes == ["ResourceNotReadyException"] + ["ok"] * 4 + [
        "ProvisionedThroughputExceededException",
        "InvalidS3ObjectException",
    ]
    assert usage == {
        "runningSeconds": 140.0,
        "billedInferenceUnitSeconds": 240.0,
        "startCalls": 2,
        "stopCalls": 1,
        "detectCustomLabelsCalls": 7,
        "successfulCalls": 4,
        "throttledCalls": 1,
        "capacityThrottledCalls": 1,
        "errorCalls": 2,
        "errorsByCode": {"InvalidS3ObjectException": 1, "ResourceNotReadyException": 1},
        "firstCallAt": burst_at,
        "lastAnswerAt": burst_at,
    }


def test_an_auto_scaled_model_adds_units_under_load_and_bills_them(stack: Any, s3: Any, bucket: str) -> None:
    # Given an image in S3 and a model started with 1 to 3 inference units (2 calls a second each, a unit more
    # or less every 5 s)
    buffer = io.BytesIO()
    Image.new("RGB", (100, 100), (250, 250, 250)).save(buffer, format="PNG")
    s3.put_object(Bucket=bucket, Key="a.png", Body=buffer.getvalue())
    rekognition = stack.client("rekognition")
    arn = stack.emulator.project_version_arn
    rekognition.start_project_version(ProjectVersionArn=arn, MinInferenceUnits=1, MaxInferenceUnits=3)
    stack.clock.advance(60.0)
    running_since = stack.clock()

    def burst(calls: int) -> list[str]:
        outcomes = []
        for _ in range(calls):
            try:
                rekognition.detect_custom_labels(
                    ProjectVersionArn=arn, Image={"S3Object": {"Bucket": bucket, "Name": "a.png"}}
                )
                outcomes.append("ok")
            except ClientError as error:
                outcomes.append(str(error.response["Error"]["Code"]))
        return outcomes

    # When three calls come each second for 5 s (one more than one unit takes), then again for 5 s, then
    # none for 10 s
    for _ in range(5):
        burst(3)
        stack.clock.advance(1.0)
    second_period: list[str] = []
    for _ in range(5):
        second_period += burst(3)
        stack.clock.advance(1.0)
    stack.clock.advance(10.0)
    burst(1)

    # Then the model scaled to 2 units after the first period, so the second took every call, and back to 1
    # after the idle period; billed time weighs each period by its units
    assert second_period == ["ok"] * 15
    assert stack.emulator.model_report()["inferenceUnits"] == 1
    assert stack.emulator.capacity_calls(running_since, running_since + 20.0) == 2.0 * (5 * 1 + 15 * 2)
    assert stack.emulator.model_report()["usage"]["billedInferenceUnitSeconds"] == 5 * 1 + 15 * 2


def test_calls_for_a_failing_key_answer_a_server_error(stack: Any, s3: Any, bucket: str) -> None:
    # Given a running model told to fail every call for keys containing "poison"
    buffer = io.BytesIO()
    Image.new("RGB", (100, 100), (250, 250, 250)).save(buffer, format="PNG")
    for key in ("poison/a.png", "good/a.png"):
        s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    stack.start_and_wait()
    stack.emulator.update_settings({"failing_key": "poison"})
    rekognition = stack.client("rekognition")
    arn = stack.emulator.project_version_arn

    # When each image is analyzed / Then only the poisoned one answers InternalServerError
    with pytest.raises(ClientError) as raised:
        rekognition.detect_custom_labels(
            ProjectVersionArn=arn, Image={"S3Object": {"Bucket": bucket, "Name": "poison/a.png"}}
        )
    assert raised.value.response["Error"]["Code"] == "InternalServerError"
    answer = rekognition.detect_custom_labels(
        ProjectVersionArn=arn, Image={"S3Object": {"Bucket": bucket, "Name": "good/a.png"}}
    )
    assert answer["CustomLabels"] == []
