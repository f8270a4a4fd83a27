"""AWS's DetectCustomLabels image rules, each with the error code boto3 raises."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIB = 1024 * 1024


def encoded(size: tuple[int, int], image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 220, 240)).save(buffer, format=image_format)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    whole = encoded((256, 256), "JPEG")
    return whole[: len(whole) // 2]


@pytest.fixture
def running(stack: Any) -> Any:
    stack.emulator.update_settings({"tps_per_inference_unit": 100.0})
    stack.start_and_wait()
    return stack


def detect(stack: Any, image: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = stack.client("rekognition").detect_custom_labels(
        ProjectVersionArn=stack.emulator.project_version_arn, Image=image
    )
    return response


@pytest.mark.parametrize(
    ("body", "expected_code"),
    [
        pytest.param(b"plain text, not an image", "InvalidImageFormatException", id="non-image"),
        pytest.param(encoded((128, 128), "GIF"), "InvalidImageFormatException", id="gif"),
        pytest.param(truncated_jpeg(), "InvalidImageFormatException", id="truncated-jpeg"),
        pytest.param(PNG_SIGNATURE + b"garbage" * 20, "InvalidImageFormatException", id="corrupt-png"),
        pytest.param(encoded((63, 200)), "InvalidParameterException", id="too-small"),
        pytest.param(encoded((4097, 300)), "ImageTooLargeException", id="too-many-pixels"),
        pytest.param(encoded((1344, 64)), "InvalidParameterException", id="aspect-21-to-1"),
        pytest.param(
            PNG_SIGNATURE + bytes(15 * MIB - len(PNG_SIGNATURE) + 1), "ImageTooLargeException", id="15mb+1"
        ),
    ],
)
def test_s3_images_breaking_a_rule_get_the_aws_error(
    running: Any, s3: Any, bucket: str, body: bytes, expected_code: str
) -> None:
    # Given an S3 object that breaks one of AWS's image rules
    s3.put_object(Bucket=bucket, Key="input/bad image.png", Body=body)

    # When the running model is asked to analyze it
    with pytest.raises(ClientError) as excinfo:
        detect(running, {"S3Object": {"Bucket": bucket, "Name": "input/bad image.png"}})

    # Then boto3 raises AWS's error code for that rule, and the emulator counts the error
    assert excinfo.value.response["Error"]["Code"] == expected_code
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert running.emulator.model_report()["usage"]["errorsByCode"] == {expected_code: 1}


@pytest.mark.parametrize(
    ("size", "image_format"),
    [((64, 64), "PNG"), ((1280, 64), "JPEG"), ((64, 1280), "PNG")],
    ids=["64x64", "20-to-1-wide", "20-to-1-tall"],
)
def test_images_at_the_limits_are_analyzed(
    running: Any, s3: Any, bucket: str, size: tuple[int, int], image_format: str
) -> None:
    # Given an image exactly at the minimum size or the maximum aspect ratio
    s3.put_object(Bucket=bucket, Key="edge", Body=encoded(size, image_format))

    # When it is analyzed, Then it is accepted (a plain background has no boxes)
    assert detect(running, {"S3Object": {"Bucket": bucket, "Name": "edge"}})["CustomLabels"] == []


@pytest.mark.parametrize(
    ("location", "expected_code"),
    [
        pytest.param(
            {"Bucket": "emulator-test-images", "Name": "missing.png"}, "InvalidS3ObjectException", id="key"
        ),
        pytest.param({"Bucket": "no-such-bucket", "Name": "a.png"}, "InvalidS3ObjectException", id="bucket"),
        pytest.param(
            {"Bucket": "emulator-test-images", "Name": "a.png", "Version": "nope"},
            "InvalidS3ObjectException",
            id="version",
        ),
    ],
)
def test_missing_objects_are_invalid_s3_objects(
    running: Any, s3: Any, bucket: str, location: dict[str, str], expected_code: str
) -> None:
    # Given a bucket holding only a.png
    s3.put_object(Bucket=bucket, Key="a.png", Body=encoded((100, 100)))

    # When a missing key, bucket or version is analyzed, Then InvalidS3ObjectException
    with pytest.raises(ClientError) as excinfo:
        detect(running, {"S3Object": location})
    assert excinfo.value.response["Error"]["Code"] == expected_code


def test_image_bytes_are_analyzed(running: Any) -> None:
    # When an image is passed as bytes rather than an S3 object, Then it is analyzed
    assert detect(running, {"Bytes": encoded((100, 100), "JPEG")})["CustomLabels"] == []


def test_image_bytes_over_4_mb_are_too_large(running: Any) -> None:
    # Given image bytes one byte over the 4 MB limit for bytes (a 15 MB S3 object would be fine)
    body = PNG_SIGNATURE + bytes(4 * MIB - len(PNG_SIGNATURE) + 1)

    # When they are analyzed, Then ImageTooLargeException
    with pytest.raises(ClientError) as excinfo:
        detect(running, {"Bytes": body})
    assert excinfo.value.response["Error"]["Code"] == "ImageTooLargeException"


def test_bytes_and_s3_object_together_are_invalid(running: Any, bucket: str) -> None:
    # When an image names both bytes and an S3 object, Then InvalidParameterException
    with pytest.raises(ClientError) as excinfo:
        detect(running, {"Bytes": encoded((100, 100)), "S3Object": {"Bucket": bucket, "Name": "a.png"}})
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterException"
