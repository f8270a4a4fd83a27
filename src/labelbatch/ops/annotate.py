"""`annotate`: each result's image with its boxes and labels drawn (as `demo` draws them) into a PNG, and one
self-contained index.html contact sheet: thumbnails embedded, labels and confidences, error results marked.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TypedDict
from urllib.parse import quote

from PIL import Image, UnidentifiedImageError

from labelbatch.images import annotate
from labelbatch.ops.results import Label, ResultEntry, find_results
from labelbatch.ops.target import Stack

INDEX = "index.html"
THUMBNAIL_SIZE = (320, 240)
_THUMBNAIL_QUALITY = 80


class AnnotatedImage(TypedDict):
    imageKey: str
    resultKey: str
    status: str
    labels: list[Label]
    error: dict[str, str] | None
    annotatedPng: str | None
    """Relative to the output folder; None for error results and images no longer in the bucket."""
    note: str | None
    """Why there is no picture, when there is none."""


class AnnotateReport(TypedDict):
    out: str
    index: str
    images: list[AnnotatedImage]
    missing: list[str]


def annotate_results(
    stack: Stack, *, keys: Iterable[str] = (), since: datetime | None = None, out: Path
) -> AnnotateReport:
    found = find_results(stack, keys=keys, since=since)
    out.mkdir(parents=True, exist_ok=True)
    images: list[AnnotatedImage] = []
    thumbnails: list[str | None] = []
    for entry in found["results"]:
        picture, note = _image_bytes(stack, entry)
        annotated_path = None
        if picture is not None and entry["status"] == "ok":
            drawn = annotate(picture, entry["document"].get("customLabels") or [])
            annotated_path = entry["resultKey"].removesuffix(".json") + ".annotated.png"
            (out / annotated_path).parent.mkdir(parents=True, exist_ok=True)
            (out / annotated_path).write_bytes(drawn)
            picture = drawn
        thumbnail = _thumbnail(picture) if picture is not None else None
        if picture is not None and thumbnail is None:
            note = "the file is not an image"
        thumbnails.append(thumbnail)
        images.append(
            AnnotatedImage(
                imageKey=entry["imageKey"],
                resultKey=entry["resultKey"],
                status=entry["status"],
                labels=entry["labels"],
                error=entry["error"],
                annotatedPng=annotated_path,
                note=note,
            )
        )
    index = out / INDEX
    index.write_text(contact_sheet(images, thumbnails, stack.description), encoding="utf-8")
    return AnnotateReport(out=str(out), index=str(index), images=images, missing=found["missing"])


def _image_bytes(stack: Stack, entry: ResultEntry) -> tuple[bytes | None, str | None]:
    """The analyzed version of the image, or (None, why not)."""
    s3 = stack.client("s3")
    image = entry["document"].get("image") or {}
    request = {"Bucket": stack.outputs["ImageBucketName"], "Key": entry["imageKey"]}
    if image.get("versionId"):
        request["VersionId"] = image["versionId"]
    try:
        return s3.get_object(**request)["Body"].read(), None
    except (s3.exceptions.NoSuchKey, s3.exceptions.ClientError):
        return None, "the analyzed version is no longer in the bucket"


def _thumbnail(picture: bytes) -> str | None:
    """A JPEG data URI at most THUMBNAIL_SIZE; None when the bytes are no image Pillow reads."""
    try:
        with Image.open(io.BytesIO(picture)) as image:
            small = image.convert("RGB")
            small.thumbnail(THUMBNAIL_SIZE)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return None
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=_THUMBNAIL_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def contact_sheet(images: list[AnnotatedImage], thumbnails: list[str | None], where: str) -> str:
    """One HTML page with no external assets: styles inline, thumbnails as data URIs, links relative."""
    errors = sum(1 for image in images if image["status"] != "ok")
    cards = "\n".join(_card(image, thumbnail) for image, thumbnail in zip(images, thumbnails, strict=True))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>labelbatch results</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #1d232a; }}
.sheet {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 1rem;
  list-style: none; padding: 0; }}
.card {{ border: 2px solid #c9d1d9; border-radius: 6px; padding: 0.6rem; }}
.card.error {{ border-color: #cf222e; background: #fff5f5; }}
.card img {{ display: block; max-width: 100%; margin: 0 auto; }}
.key {{ font-family: ui-monospace, monospace; font-size: 0.85rem; overflow-wrap: anywhere; }}
.labels {{ padding-left: 1.2rem; margin: 0.3rem 0; }}
.status-error {{ color: #cf222e; font-weight: bold; }}
.note {{ color: #57606a; font-style: italic; }}
</style>
</head>
<body>
<h1>labelbatch results</h1>
<p>{len(images)} image{"s" if len(images) != 1 else ""}, {errors} with an error result,
from the {html.escape(where)}.</p>
<ul class="sheet">
{cards}
</ul>
</body>
</html>
"""


def _card(image: AnnotatedImage, thumbnail: str | None) -> str:
    key = html.escape(image["imageKey"])
    parts = [f'<li class="card {"ok" if image["status"] == "ok" else "error"}" data-image-key="{key}">']
    if thumbnail is not None:
        picture = f'<img src="{thumbnail}" alt="{key}">'
        if image["annotatedPng"]:
            picture = f'<a href="{html.escape(quote(image["annotatedPng"]))}">{picture}</a>'
        parts.append(picture)
    if image["note"]:
        parts.append(f'<p class="note">{html.escape(image["note"])}</p>')
    parts.append(f'<p class="key">{key}</p>')
    if image["status"] == "ok":
        labels = "".join(
            f"<li>{html.escape(label['name'])} {label['confidence']:.1f}%</li>" for label in image["labels"]
        )
        parts.append(f'<ul class="labels">{labels}</ul>' if labels else '<p class="note">no labels found</p>')
    else:
        error = image["error"] or {}
        parts.append(
            f'<p class="status-error">error: {html.escape(error.get("code", "unknown"))}</p>'
            f"<p>{html.escape(error.get('message', ''))}</p>"
        )
    parts.append("</li>")
    return "".join(parts)
