"""The image rules DetectCustomLabels enforces, with the exceptions AWS answers them with.

Limits from the Custom Labels developer guide, "Guidelines and quotas", Detection section: PNG or JPEG;
at most 15 MB for an S3 object and 4 MB for image bytes; 64x64 to 4096x4096 pixels; aspect ratio at most
20:1. Which exception each broken rule gets is documented only in part:
- size: ImageTooLargeException ("The input image size exceeds the allowed limit").
- format: InvalidImageFormatException ("Request has invalid image format"), also for undecodable files.
- too many pixels: ImageTooLargeException; botocore's model documents it as "the image size or
  resolution exceeds the allowed limit" for DetectProtectiveEquipment, the operation with the same
  64..4096 pixel limits.
- too few pixels: InvalidParameterException; that is what Rekognition answered for an image under its
  minimum dimensions (boto/botocore#1366: "Request has Invalid Parameters"). The aspect-ratio rule has no
  documented exception and is treated as the same kind of constraint.
"""

from __future__ import annotations

import io

from PIL import Image

from labelbatch.emulator.errors import RekognitionError, invalid_parameter

MAX_S3_OBJECT_BYTES = 15 * 1024 * 1024
MAX_IMAGE_BYTES = 4 * 1024 * 1024
MIN_DIMENSION = 64
MAX_DIMENSION = 4096
MAX_ASPECT_RATIO = 20.0


def load_image(data: bytes, *, from_s3: bool) -> Image.Image:
    """The decoded image, or the RekognitionError AWS would answer for it."""
    limit = MAX_S3_OBJECT_BYTES if from_s3 else MAX_IMAGE_BYTES
    if len(data) > limit:
        raise RekognitionError(
            "ImageTooLargeException",
            f"Image size is too large: {len(data)} bytes, the limit is {limit} bytes.",
        )
    invalid_format = RekognitionError("InvalidImageFormatException", "Request has invalid image format.")
    if not data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
        raise invalid_format
    try:
        image = Image.open(io.BytesIO(data), formats=("PNG", "JPEG"))
    except Exception as exc:  # Pillow signals a bad header with several exception types
        raise invalid_format from exc
    shorter, longer = sorted(image.size)
    pixels = f"image is {image.width}x{image.height} pixels"
    if shorter < MIN_DIMENSION:
        raise invalid_parameter(
            f"Request has invalid parameters: {pixels}, the minimum is {MIN_DIMENSION}x{MIN_DIMENSION}."
        )
    if longer > MAX_DIMENSION:
        raise RekognitionError(
            "ImageTooLargeException",
            f"Image size is too large: {pixels}, the maximum is {MAX_DIMENSION}x{MAX_DIMENSION}.",
        )
    if longer / shorter > MAX_ASPECT_RATIO:
        raise invalid_parameter(
            f"Request has invalid parameters: {pixels}, "
            f"the aspect ratio must be at most {MAX_ASPECT_RATIO:g}:1."
        )
    try:
        image.load()
    # Truncated or corrupt data surfaces as OSError, SyntaxError, ValueError, zlib.error, ... by format.
    except Exception as exc:
        raise invalid_format from exc
    return image
