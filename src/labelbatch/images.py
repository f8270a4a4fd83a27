"""Sample images for the demo and the tests, and annotated copies of images with their detected labels.

Sample images are coloured boxes from the emulator's palette on varied backgrounds, so the emulator's
detector finds exactly the boxes drawn; their file names include spaces and non-ASCII letters because S3
event notifications URL-encode such keys, which the pipeline must undo.
"""

from __future__ import annotations

import io
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from PIL import Image, ImageDraw, ImageFont

from labelbatch.emulator.detector import PALETTE, label_name

RGB = tuple[int, int, int]

SAMPLE_STEMS = (
    "café crème",
    "zürich skyline",
    "harbour crates",
    "smørrebrød tray",
    "façade",
    "warehouse shelf",
    "piñata party",
    "straße corner",
    "plain",
    "naïve still life",
)
# Far from every palette colour, so a background never reads as a box.
BACKGROUNDS: tuple[RGB, ...] = (
    (250, 250, 250),
    (205, 205, 205),
    (245, 235, 210),
    (45, 52, 64),
    (90, 110, 120),
    (200, 220, 240),
    (30, 30, 30),
    (215, 200, 165),
)
MIN_SIDE, MAX_WIDTH, MAX_HEIGHT = 320, 1024, 768
JPEG_QUALITY = 90
# A gentle top-to-bottom shade keeps backgrounds from being a single flat colour.
BACKGROUND_SHADE = 12
_BOX_GAP = 12
_PLACEMENT_ATTEMPTS = 50


class ExpectedBox(NamedTuple):
    """A drawn box: its label name and position as ratios of the image size (Rekognition's BoundingBox)."""

    name: str
    left: float
    top: float
    width: float
    height: float


class SampleImage(NamedTuple):
    path: Path
    boxes: tuple[ExpectedBox, ...]


def generate_sample_images(directory: Path | str, count: int, seed: int = 0) -> list[SampleImage]:
    """Write `count` PNG and JPEG images into `directory`; the same seed writes the same files."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    # Not for security: a seeded generator makes the samples repeatable.
    rng = random.Random(seed)  # noqa: S311
    samples = []
    for index in range(count):
        extension = "png" if index % 2 == 0 else "jpg"
        path = target / f"{SAMPLE_STEMS[index % len(SAMPLE_STEMS)]} {index + 1:02d}.{extension}"
        width, height = rng.randint(MIN_SIDE, MAX_WIDTH), rng.randint(MIN_SIDE * 3 // 4, MAX_HEIGHT)
        image = _background(width, height, rng.choice(BACKGROUNDS))
        draw = ImageDraw.Draw(image)
        boxes = []
        for colour, (left, top, right, bottom) in _place_boxes(rng, width, height):
            draw.rectangle((left, top, right - 1, bottom - 1), fill=PALETTE[colour])
            boxes.append(
                ExpectedBox(
                    label_name(colour),
                    left / width,
                    top / height,
                    (right - left) / width,
                    (bottom - top) / height,
                )
            )
        if extension == "png":
            image.save(path, format="PNG")
        else:
            image.save(path, format="JPEG", quality=JPEG_QUALITY)
        samples.append(SampleImage(path, tuple(boxes)))
    return samples


def _background(width: int, height: int, colour: RGB) -> Image.Image:
    image = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        shift = round(BACKGROUND_SHADE * (2 * y / max(1, height - 1) - 1))
        draw.line((0, y, width - 1, y), fill=tuple(min(255, max(0, channel + shift)) for channel in colour))
    return image


def _place_boxes(rng: random.Random, width: int, height: int) -> list[tuple[str, tuple[int, int, int, int]]]:
    """One to four boxes (colour, (left, top, right, bottom) in pixels) that keep a gap between them."""
    placed: list[tuple[str, tuple[int, int, int, int]]] = []
    for _ in range(rng.randint(1, 4)):
        colour = rng.choice(sorted(PALETTE))
        for _attempt in range(_PLACEMENT_ATTEMPTS):
            box_width = rng.randint(width * 12 // 100, width * 35 // 100)
            box_height = rng.randint(height * 12 // 100, height * 35 // 100)
            left, top = rng.randint(0, width - box_width), rng.randint(0, height - box_height)
            candidate = (left, top, left + box_width, top + box_height)
            if all(_apart(candidate, other) for _, other in placed):
                placed.append((colour, candidate))
                break
    return placed


def _apart(first: tuple[int, int, int, int], second: tuple[int, int, int, int]) -> bool:
    return (
        first[2] + _BOX_GAP <= second[0]
        or second[2] + _BOX_GAP <= first[0]
        or first[3] + _BOX_GAP <= second[1]
        or second[3] + _BOX_GAP <= first[1]
    )


def annotate(image_bytes: bytes, custom_labels: Sequence[Mapping[str, Any]]) -> bytes:
    """A PNG of the image with each label's box and "name confidence%" drawn; labels without a box
    (image-level labels) are listed in the top-left corner."""
    image = Image.open(io.BytesIO(image_bytes)).convert("RGB")
    draw = ImageDraw.Draw(image)
    line_width = max(2, min(image.size) // 200)
    font = ImageFont.load_default(size=max(12, min(image.size) // 30))
    unlocated_y = 0
    for label in custom_labels:
        text = f"{label.get('Name', '?')} {float(label.get('Confidence', 0.0)):.1f}%"
        box = (label.get("Geometry") or {}).get("BoundingBox")
        if box is None:
            unlocated_y += _draw_caption(draw, font, (0, unlocated_y), text)
            continue
        left, top = box["Left"] * image.width, box["Top"] * image.height
        right, bottom = left + box["Width"] * image.width, top + box["Height"] * image.height
        # Black then white outlines stay visible on light and dark backgrounds alike.
        draw.rectangle((left, top, right, bottom), outline=(0, 0, 0), width=line_width + 2)
        draw.rectangle((left + 1, top + 1, right - 1, bottom - 1), outline=(255, 255, 255), width=line_width)
        caption_height = _caption_size(draw, font, text)[1]
        # Above the box when there is room, else below it, never off the bottom edge.
        caption_top = top - caption_height if top >= caption_height else bottom
        _draw_caption(draw, font, (left, min(caption_top, image.height - caption_height)), text)
    output = io.BytesIO()
    image.save(output, format="PNG")
    return output.getvalue()


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _caption_size(draw: ImageDraw.ImageDraw, font: Font, text: str) -> tuple[int, int]:
    """Width and height of a caption band: the text plus a 2-pixel margin."""
    _, _, right, bottom = draw.textbbox((0, 0), text, font=font)
    return int(right) + 4, int(bottom) + 4


def _draw_caption(draw: ImageDraw.ImageDraw, font: Font, origin: tuple[float, float], text: str) -> int:
    """Draw white text on a black band at `origin`; returns the band's height."""
    width, height = _caption_size(draw, font, text)
    draw.rectangle((origin[0], origin[1], origin[0] + width, origin[1] + height), fill=(0, 0, 0))
    draw.text((origin[0] + 2, origin[1] + 2), text, fill=(255, 255, 255), font=font)
    return height
