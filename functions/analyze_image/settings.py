"""The function's configuration, parsed once from the environment variables the template sets."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from analyze_image.settle import MAX_RETRY_DELAY_SECONDS

_REQUIRED = (
    "IMAGE_BUCKET",
    "RESULTS_PREFIX",
    "PROJECT_VERSION_ARN",
    "IMAGE_QUEUE_URL",
    "DEAD_LETTER_QUEUE_URL",
    "RETRY_DELAY_SECONDS",
)


class SettingsError(ValueError):
    """The environment does not describe a usable configuration: every record fails until it is fixed."""


@dataclass(frozen=True, slots=True)
class Settings:
    image_bucket: str
    # "" means the whole bucket, as an S3 notification filter without a prefix does.
    input_prefix: str
    results_prefix: str
    project_version_arn: str
    # None lets the model apply its own calibrated threshold to each label.
    min_confidence: float | None
    image_queue_url: str
    dead_letter_queue_url: str
    # How long an image whose first analysis failed waits before it is tried again.
    retry_delay_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [name for name in _REQUIRED if not env.get(name)]
        # INPUT_PREFIX may be empty, but it must be set: a forgotten variable must not widen the scope.
        if "INPUT_PREFIX" not in env:
            missing.append("INPUT_PREFIX")
        if missing:
            raise SettingsError(f"missing environment variables: {', '.join(sorted(missing))}")
        input_prefix = env["INPUT_PREFIX"]
        results_prefix = env["RESULTS_PREFIX"]
        if input_prefix.startswith(results_prefix):
            # Every image would count as a result and be ignored: the function would silently do nothing.
            raise SettingsError(
                f"INPUT_PREFIX {input_prefix!r} lies under RESULTS_PREFIX {results_prefix!r}; keep them apart"
            )
        return cls(
            image_bucket=env["IMAGE_BUCKET"],
            input_prefix=input_prefix,
            results_prefix=results_prefix,
            project_version_arn=env["PROJECT_VERSION_ARN"],
            min_confidence=_parse_min_confidence(env.get("MIN_CONFIDENCE", "")),
            image_queue_url=env["IMAGE_QUEUE_URL"],
            dead_letter_queue_url=env["DEAD_LETTER_QUEUE_URL"],
            retry_delay_seconds=_parse_retry_delay(env["RETRY_DELAY_SECONDS"]),
        )


def _parse_retry_delay(raw: str) -> int:
    problem = (
        f"RETRY_DELAY_SECONDS must be a whole number of seconds from 1 to {MAX_RETRY_DELAY_SECONDS}, "
        f"got {raw!r}"
    )
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(problem) from exc
    if not 1 <= value <= MAX_RETRY_DELAY_SECONDS:
        raise SettingsError(problem)
    return value


def _parse_min_confidence(raw: str) -> float | None:
    if raw.strip() == "":
        return None
    problem = f"MIN_CONFIDENCE must be a number from 0 to 100, got {raw!r}"
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(problem) from exc
    # Checked here so that Rekognition never answers InvalidParameterException because of it: that answer
    # is read as a problem of the image (see analysis.py). The comparison also rejects NaN.
    if not 0 <= value <= 100:
        raise SettingsError(problem)
    return value


@functools.cache
def get_settings() -> Settings:
    """Parsed on first use, not at import; code that changes the environment in one process (tests, the local
    stack) calls `get_settings.cache_clear()` afterwards."""
    return Settings.from_env(os.environ)
