"""A deterministic stand-in for a trained Custom Labels object-detection model, and nothing more.

It finds solid-colour, axis-aligned rectangles that stand out from the image background and names each after
the nearest colour of a small palette ("red box"), so that local results depend on each image's pixels; it
says nothing about what a real model would find. The image is box-filtered down to ANALYSIS_MAX_SIDE (which
also smooths JPEG noise), the palette colour dominating its border is the background, and each 4-connected
region of another palette colour is a box, as confident as it fills its bounding box with near-palette pixels.
Box edges are accurate to about one analysis pixel (0.5 % of the longer side).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from PIL import Image

RGB = tuple[int, int, int]

# Pairwise distances are all above 2 x COLOUR_TOLERANCE, so no pixel is near two palette colours.
PALETTE: dict[str, RGB] = {
    "red": (220, 40, 40),
    "green": (40, 170, 70),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "orange": (245, 130, 20),
    "purple": (140, 60, 180),
}
COLOUR_TOLERANCE = 35.0
ANALYSIS_MAX_SIDE = 192
# Regions thinner than this (in analysis pixels) are blended edges or noise, not boxes.
MIN_BOX_SIDE = 3


def label_name(colour: str) -> str:
    return f"{colour} box"


def detect_boxes(image: Image.Image) -> list[dict[str, Any]]:
    """The boxes in `image` as DetectCustomLabels' CustomLabels, highest confidence first (ties by position,
    so the order is deterministic)."""
    grid = image.convert("RGB")
    scale = ANALYSIS_MAX_SIDE / max(grid.size)
    if scale < 1:
        reduced_size = (max(1, round(grid.width * scale)), max(1, round(grid.height * scale)))
        grid = grid.resize(reduced_size, Image.Resampling.BOX)
    width, height = grid.size
    raw = grid.tobytes()
    pixels = list(zip(raw[0::3], raw[1::3], raw[2::3], strict=True))
    nearest = {pixel: _nearest_colour(pixel) for pixel in set(pixels)}
    colours = [nearest[pixel][0] for pixel in pixels]
    background = _border_colour(colours, width)

    found: list[tuple[tuple[float, float, float, str], dict[str, Any]]] = []
    seen = [False] * len(pixels)
    for start, colour in enumerate(colours):
        if seen[start] or colour is None or colour == background:
            continue
        members = _flood(start, colours, seen, width)
        columns = [index % width for index in members]
        rows = [index // width for index in members]
        box_width = max(columns) - min(columns) + 1
        box_height = max(rows) - min(rows) + 1
        if box_width < MIN_BOX_SIDE or box_height < MIN_BOX_SIDE:
            continue
        fill = len(members) / (box_width * box_height)
        mean_distance = sum(nearest[pixels[index]][1] for index in members) / len(members)
        closeness = 1.0 - mean_distance / COLOUR_TOLERANCE
        confidence = round(100.0 * fill * (0.8 + 0.2 * closeness), 3)
        box = {
            "Width": round(box_width / width, 6),
            "Height": round(box_height / height, 6),
            "Left": round(min(columns) / width, 6),
            "Top": round(min(rows) / height, 6),
        }
        name = label_name(colour)
        label = {"Name": name, "Confidence": confidence, "Geometry": {"BoundingBox": box}}
        found.append(((-confidence, box["Top"], box["Left"], name), label))
    found.sort(key=lambda item: item[0])
    return [label for _, label in found]


def _nearest_colour(pixel: RGB) -> tuple[str | None, float]:
    """The palette colour within COLOUR_TOLERANCE of `pixel` (None when none is), and its distance."""
    distances = {name: math.dist(pixel, reference) for name, reference in PALETTE.items()}
    name = min(distances, key=distances.__getitem__)
    return (name if distances[name] <= COLOUR_TOLERANCE else None), distances[name]


def _border_colour(colours: list[str | None], width: int) -> str | None:
    """The palette colour covering most of the border, if any: then it is the background, not a box."""
    border = colours[:width] + colours[-width:] + colours[::width] + colours[width - 1 :: width]
    colour, count = Counter(border).most_common(1)[0]
    return colour if colour is not None and count * 2 > len(border) else None


def _flood(start: int, colours: list[str | None], seen: list[bool], width: int) -> list[int]:
    """The pixels of the 4-connected region of one colour around `start`, marked as seen."""
    seen[start] = True
    members, stack = [], [start]
    while stack:
        index = stack.pop()
        members.append(index)
        x = index % width
        for neighbour in (
            index - 1 if x > 0 else -1,
            index + 1 if x < width - 1 else -1,
            index - width,
            index + width,
        ):
            if 0 <= neighbour < len(colours) and not seen[neighbour] and colours[neighbour] == colours[start]:
                seen[neighbour] = True
                stack.append(neighbour)
    return members
