"""Sample image generation for the demo and the tests, and annotated copies of analyzed images."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

from PIL import Image

from labelbatch.images import ExpectedBox, annotate, generate_sample_images


def test_samples_are_png_and_jpeg_with_awkward_names(tmp_path: Path) -> None:
    # When twelve sample images are generated
    samples = generate_sample_images(tmp_path / "samples", count=12, seed=1)

    # Then there are twelve files, PNG and JPEG by content, named with spaces and non-ASCII letters
    assert len(samples) == 12
    assert sorted(path.name for path in (tmp_path / "samples").iterdir()) == sorted(
        s.path.name for s in samples
    )
    formats = {Image.open(sample.path).format for sample in samples}
    assert formats == {"PNG", "JPEG"}
    names = [sample.path.name for sample in samples]
    assert all(" " in name for name in names)
    assert any(not name.isascii() for name in names)
    assert "café crème 01.png" in names
    assert "zürich skyline 02.jpg" in names


def test_samples_have_sizes_and_boxes_the_detector_can_use(tmp_path: Path) -> None:
    # When samples are generated
    samples = generate_sample_images(tmp_path, count=20, seed=2)

    for sample in samples:
        width, height = Image.open(sample.path).size
        # Then each is 320..1024 wide, 240..768 tall, with one to four boxes inside the image
        assert 320 <= width <= 1024
        assert 240 <= height <= 768
        assert 1 <= len(sample.boxes) <= 4
        for box in sample.boxes:
            assert box.name.endswith(" box")
            assert box.left >= 0
            assert box.top >= 0
            assert box.left + box.width <= 1
            assert box.top + box.height <= 1
        # And no two boxes overlap
        for first, second in itertools.combinations(sample.boxes, 2):
            assert (
                first.left + first.width <= second.left
                or second.left + second.width <= first.left
                or first.top + first.height <= second.top
                or second.top + second.height <= first.top
            )


def test_the_same_seed_writes_the_same_images(tmp_path: Path) -> None:
    # When two sets are generated with one seed and a third with another
    first = generate_sample_images(tmp_path / "a", count=4, seed=9)
    second = generate_sample_images(tmp_path / "b", count=4, seed=9)
    other = generate_sample_images(tmp_path / "c", count=4, seed=10)

    # Then the first two are byte-identical and the third differs
    assert [s.path.read_bytes() for s in first] == [s.path.read_bytes() for s in second]
    assert [s.boxes for s in first] == [s.boxes for s in second]
    assert [s.boxes for s in first] != [s.boxes for s in other]


def test_annotate_draws_each_box_and_caption(tmp_path: Path) -> None:
    # Given a plain grey JPEG and a label with a box in the middle
    source = io.BytesIO()
    Image.new("RGB", (400, 300), (128, 128, 128)).save(source, format="JPEG")
    label = {
        "Name": "red box",
        "Confidence": 98.76,
        "Geometry": {"BoundingBox": {"Left": 0.25, "Top": 0.5, "Width": 0.5, "Height": 0.25}},
    }

    # When it is annotated
    annotated = Image.open(io.BytesIO(annotate(source.getvalue(), [label])))

    # Then the result is a PNG of the same size with the box outlined and a caption band above it,
    # and pixels away from both are untouched
    assert (annotated.format, annotated.size) == ("PNG", (400, 300))
    assert annotated.getpixel((100, 200)) in {(0, 0, 0), (255, 255, 255)}
    assert annotated.getpixel((100, 149)) == (0, 0, 0)  # the caption band's margin, just above the box
    assert max(abs(a - 128) for a in annotated.getpixel((380, 20))) <= 3  # type: ignore[union-attr]


def test_annotate_lists_labels_without_a_box(tmp_path: Path) -> None:
    # Given a PNG and an image-level label (no Geometry), as classification models return
    source = io.BytesIO()
    Image.new("RGB", (200, 200), (250, 250, 250)).save(source, format="PNG")

    # When it is annotated, Then the caption is drawn in the top-left corner
    annotated = Image.open(io.BytesIO(annotate(source.getvalue(), [{"Name": "sunny", "Confidence": 91.0}])))
    assert annotated.getpixel((1, 1)) == (0, 0, 0)
    assert annotated.getpixel((199, 199)) == (250, 250, 250)


def test_expected_boxes_unpack_like_tuples(tmp_path: Path) -> None:
    # Given a generated sample
    (sample,) = generate_sample_images(tmp_path, count=1, seed=4)

    # Then it unpacks as (path, boxes) and each box as (name, left, top, width, height)
    path, boxes = sample
    name, left, top, width, height = boxes[0]
    assert path.exists()
    assert ExpectedBox(name, left, top, width, height) == boxes[0]
