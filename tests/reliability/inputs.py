"""What people upload: valid sample images, files Rekognition refuses, awkward keys, raw queue messages."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from urllib.parse import quote_plus

from PIL import Image

from labelbatch.images import generate_sample_images

# 15 MB is Rekognition's limit for an S3 object; random noise does not compress.
OVER_15_MB_SIDE = 2300
TOO_LARGE_SIDE = 4100
TOO_SMALL_SIDE = 32


def sample_bodies(directory: Path, count: int) -> list[tuple[str, bytes]]:
    """(file name, bytes) of distinct PNG and JPEG images with coloured boxes the model finds."""
    return [
        (sample.path.name, sample.path.read_bytes()) for sample in generate_sample_images(directory, count)
    ]


def many(samples: list[tuple[str, bytes]], count: int, folder: str) -> list[tuple[str, bytes]]:
    """`count` uploads under `folder`, cycling through the samples (each key distinct)."""
    return [
        (f"{folder}{index:04d} {samples[index % len(samples)][0]}", samples[index % len(samples)][1])
        for index in range(count)
    ]


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def solid(side: int, image_format: str = "PNG") -> bytes:
    return encoded(Image.new("RGB", (side, side), (200, 220, 240)), image_format)


def png_over_15_mb() -> bytes:
    """A valid PNG within the pixel limits whose file is over 15 MB: stored, not compressed."""
    noise = Image.frombytes("RGB", (OVER_15_MB_SIDE, OVER_15_MB_SIDE), os.urandom(OVER_15_MB_SIDE**2 * 3))
    data = encoded(noise, "PNG", compress_level=0)
    assert len(data) > 15 * 1024 * 1024
    return data


def truncated_jpeg(valid_jpeg: bytes) -> bytes:
    """The first half of a valid JPEG: its header says JPEG, its pixels end early."""
    return valid_jpeg[: len(valid_jpeg) // 2]


def s3_notification(bucket: str, key: str) -> str:
    """An S3 ObjectCreated notification as S3 writes it (key URL-encoded)."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-01-01T00:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key), "size": 1024, "eTag": "0123456789abcdef0123456789abcdef"},
        },
    }
    return json.dumps({"Records": [record]})


def key_of_bytes(prefix: str, size: int) -> str:
    """A relative key (with two-byte letters in it) that makes `prefix + key` exactly `size` bytes long."""
    head, tail = "long/", ".png"
    letters = "é" * 200
    filler = size - len((prefix + head + letters + tail).encode())
    key = head + letters + "x" * filler + tail
    assert len((prefix + key).encode()) == size
    return key
