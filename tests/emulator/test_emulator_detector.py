"""The stand-in detector: labels and boxes on generated images with known boxes, confidence filtering."""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from labelbatch.emulator import PALETTE, detect_boxes
from labelbatch.emulator.detector import COLOUR_TOLERANCE
from labelbatch.images import BACKGROUNDS, ExpectedBox, generate_sample_images

# Box edges are found to about one analysis pixel; JPEG blurs them by about one more.
BOX_TOLERANCE = 0.03


@pytest.fixture
def running(stack: Any) -> Any:
    stack.emulator.update_settings({"tps_per_inference_unit": 100.0})
    stack.start_and_wait()
    return stack


def detect_key(stack: Any, bucket: str, key: str, **options: Any) -> list[dict[str, Any]]:
    response = stack.client("rekognition").detect_custom_labels(
        ProjectVersionArn=stack.emulator.project_version_arn,
        Image={"S3Object": {"Bucket": bucket, "Name": key}},
        **options,
    )
    labels: list[dict[str, Any]] = response["CustomLabels"]
    return labels


def close(box: ExpectedBox, found: dict[str, Any]) -> bool:
    return found["Name"] == box.name and all(
        abs(getattr(box, side.lower()) - found["Geometry"]["BoundingBox"][side]) <= BOX_TOLERANCE
        for side in ("Left", "Top", "Width", "Height")
    )


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_generated_images_get_their_drawn_boxes_back(
    running: Any, s3: Any, bucket: str, tmp_path: Path
) -> None:
    # Given ten generated PNG and JPEG images with known boxes, uploaded under their (non-ASCII) names
    samples = generate_sample_images(tmp_path, count=10, seed=3)
    for sample in samples:
        s3.put_object(Bucket=bucket, Key=f"input/{sample.path.name}", Body=sample.path.read_bytes())

    for sample in samples:
        # When each is analyzed through boto3
        labels = detect_key(running, bucket, f"input/{sample.path.name}")

        # Then every drawn box comes back once, named after its colour, where it was drawn, confidently
        assert sorted(label["Name"] for label in labels) == sorted(box.name for box in sample.boxes), (
            sample.path
        )
        for box in sample.boxes:
            assert sum(close(box, label) for label in labels) == 1, (sample.path, box, labels)
        assert all(label["Confidence"] >= 95.0 for label in labels), labels


def test_labels_have_the_custom_label_shape(running: Any, s3: Any, bucket: str) -> None:
    # Given a white 400x200 image with one red box at (100, 50) sized 100x50
    image = Image.new("RGB", (400, 200), (250, 250, 250))
    ImageDraw.Draw(image).rectangle((100, 50, 199, 99), fill=PALETTE["red"])
    s3.put_object(Bucket=bucket, Key="one.png", Body=png(image))

    # When it is analyzed
    (label,) = detect_key(running, bucket, "one.png")

    # Then the label is a full CustomLabel with a normalized bounding box
    assert label == {
        "Name": "red box",
        "Confidence": 100.0,
        "Geometry": {"BoundingBox": {"Width": 0.25, "Height": 0.25, "Left": 0.25, "Top": 0.25}},
    }


def test_ragged_shapes_score_low_and_min_confidence_and_max_results_apply(
    running: Any, s3: Any, bucket: str
) -> None:
    # Given a solid blue box and a thin green frame (a ragged shape, mostly empty inside its bounds)
    image = Image.new("RGB", (640, 480), (45, 52, 64))
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 40, 239, 199), fill=PALETTE["blue"])
    draw.rectangle((320, 200, 599, 439), outline=PALETTE["green"], width=12)
    s3.put_object(Bucket=bucket, Key="frame.png", Body=png(image))

    # When it is analyzed without MinConfidence, with MinConfidence 0, and with MaxResults 1
    default = detect_key(running, bucket, "frame.png")
    everything = detect_key(running, bucket, "frame.png", MinConfidence=0)
    best = detect_key(running, bucket, "frame.png", MinConfidence=0, MaxResults=1)

    # Then the default threshold (50) drops the frame, 0 returns it below the box, MaxResults keeps the best
    assert [label["Name"] for label in default] == ["blue box"]
    assert [label["Name"] for label in everything] == ["blue box", "green box"]
    assert everything[1]["Confidence"] < 50.0
    assert best == default


def test_min_confidence_above_every_label_returns_none(running: Any, s3: Any, bucket: str) -> None:
    # Given a JPEG with one box (JPEG noise keeps its confidence just under 100)
    image = Image.new("RGB", (300, 300), (215, 200, 165))
    ImageDraw.Draw(image).rectangle((50, 50, 149, 149), fill=PALETTE["purple"])
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    s3.put_object(Bucket=bucket, Key="purple.jpg", Body=buffer.getvalue())

    # When MinConfidence is 99.99, Then nothing comes back; at 90 the box does
    assert detect_key(running, bucket, "purple.jpg", MinConfidence=99.99) == []
    assert [label["Name"] for label in detect_key(running, bucket, "purple.jpg", MinConfidence=90)] == [
        "purple box"
    ]


def test_a_palette_coloured_background_is_not_a_box() -> None:
    # Given a blue background with a yellow box
    image = Image.new("RGB", (400, 300), PALETTE["blue"])
    ImageDraw.Draw(image).rectangle((100, 100, 199, 199), fill=PALETTE["yellow"])

    # When boxes are detected, Then only the yellow box is found
    assert [found["Name"] for found in detect_boxes(image)] == ["yellow box"]


def test_detection_is_deterministic(tmp_path: Path) -> None:
    # Given a generated JPEG with several boxes
    sample = next(sample for sample in generate_sample_images(tmp_path, 8, seed=11) if len(sample.boxes) > 1)

    # When it is analyzed twice, Then the answers are identical
    assert detect_boxes(Image.open(sample.path)) == detect_boxes(Image.open(sample.path))


def test_palette_and_backgrounds_are_far_enough_apart() -> None:
    # Given the palette the detector names and the sample backgrounds
    # Then no two palette colours, and no background and palette colour, are within twice the tolerance
    def distance(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
        return float(sum((a - b) ** 2 for a, b in zip(first, second, strict=True)) ** 0.5)

    for first, second in itertools.combinations(PALETTE.values(), 2):
        assert distance(first, second) > 2 * COLOUR_TOLERANCE, (first, second)
    for background, colour in itertools.product(BACKGROUNDS, PALETTE.values()):
        assert distance(background, colour) > 2 * COLOUR_TOLERANCE, (background, colour)
