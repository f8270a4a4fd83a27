"""Usage accounting: running time, billed inference-unit seconds, calls, throttles and errors."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image

pytestmark = pytest.mark.emulator


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
        "errorCalls": 2,
        "errorsByCode": {"InvalidS3ObjectException": 1, "ResourceNotReadyException": 1},
    }
