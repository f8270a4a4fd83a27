"""Bad input: files Rekognition refuses, and keys that take S3's URL encoding to its corners. Each upload must
end with exactly one result with the right status and error code."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from reliability.harness import RecordRow, StartScenario, check_invariants, error, ok
from reliability.inputs import (
    TOO_LARGE_SIDE,
    TOO_SMALL_SIDE,
    encoded,
    key_of_bytes,
    png_over_15_mb,
    sample_bodies,
    solid,
    truncated_jpeg,
)

# The reaper, invoked in-process, emits no metric when it leaves the model alone; Powertools warns about it.

INVALID_FORMAT = "InvalidImageFormatException"
TOO_LARGE = "ImageTooLargeException"
# What Rekognition answers for an image under its minimum dimensions (see analysis.py and image_rules.py).
TOO_SMALL = "InvalidParameterException"


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    """Sample images alternate PNG, JPEG, PNG..."""
    directory: Path = tmp_path_factory.mktemp("samples")
    return sample_bodies(directory, 8)


def test_files_rekognition_refuses_get_an_error_result_each(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given every kind of file people drop that is not an image Rekognition analyzes, and valid images with
    # upper-case extensions
    scenario = start_scenario()
    png, jpeg = samples[0][1], samples[1][1]
    picture = Image.open(io.BytesIO(png)).convert("RGB")
    scenario.upload("bad/empty.jpg", b"", error(INVALID_FORMAT))
    scenario.upload("bad/notes.jpg", b"shopping list: milk, eggs\n", error(INVALID_FORMAT))
    scenario.upload("bad/truncated.jpg", truncated_jpeg(jpeg), error(INVALID_FORMAT))
    scenario.upload("bad/over 15 MB.png", png_over_15_mb(), error(TOO_LARGE))
    scenario.upload(f"bad/{TOO_LARGE_SIDE} px.png", solid(TOO_LARGE_SIDE), error(TOO_LARGE))
    scenario.upload(f"bad/{TOO_SMALL_SIDE} px.png", solid(TOO_SMALL_SIDE), error(TOO_SMALL))
    scenario.upload("bad/animation.gif", encoded(picture, "GIF"), error(INVALID_FORMAT))
    scenario.upload("bad/photo.webp", encoded(picture, "WEBP"), error(INVALID_FORMAT))
    scenario.upload("bad/scan.tiff", encoded(picture, "TIFF"), error(INVALID_FORMAT))
    scenario.upload("upper/PHOTO.JPG", jpeg, ok(jpeg))
    scenario.upload("upper/DRAWING.PNG", png, ok(png))

    # When a run drains the queue
    run = scenario.run(status="SUCCEEDED", outcome="processed")

    # Then each file has one result: an error with Rekognition's code, or labels for the valid images
    assert len(run.results_after) == 11
    record(check_invariants(scenario, reaper="leaves alone"))


def test_awkward_keys_each_get_their_result(
    start_scenario: StartScenario, samples: list[tuple[str, bytes]], record: RecordRow
) -> None:
    # Given valid images under keys that S3 notifications URL-encode in every way
    scenario = start_scenario()
    prefix = scenario.stack.input_prefix
    keys = [
        "with spaces/two  spaces and a trailing space .png",
        "plus+sign+ and+%2B.png",
        "100% literal %41 %2B %%.png",
        'it\'s "quoted" `twice`.png',
        "emoji 📷🙂 and ✓.png",
        "Ωμέγα 日本語 café straße ñ.png",
        "symbols &=?#;@$,!~*()[]{}^.png",
        key_of_bytes(prefix, 1000),
        "/".join(f"level{depth:02d}" for depth in range(40)) + "/deep.png",
    ]
    for index, key in enumerate(keys):
        body = samples[index % len(samples)][1]
        scenario.upload(key, body, ok(body))

    # When a run drains the queue
    run = scenario.run(status="SUCCEEDED", outcome="processed")

    # Then each image has its result at the key derived from its own (checked with the invariants), the
    # 1,000-byte one included
    assert scenario.stack.expected_result_key(prefix + keys[7]) in run.results_after
    record(check_invariants(scenario, reaper="leaves alone"))
