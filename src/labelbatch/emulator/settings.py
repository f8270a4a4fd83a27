"""Operator-tunable behaviour of the Custom Labels emulator, validated once for code and the control API."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any


class SettingsError(ValueError):
    """A setting change that was refused; the message says which key and why."""


# Bounds keep a typo from freezing the local stack (a start that takes a day) or making it meaningless
# (a zero capacity): every number is in [0, maximum], and those in _ABOVE_ZERO also above 0.
_MAXIMUM: dict[str, float] = {
    "start_seconds": 3600.0,
    "stop_seconds": 3600.0,
    "tps_per_inference_unit": 10_000.0,
    "latency_ms": 60_000.0,
    "throttle_fraction": 1.0,
    "transient_error_fraction": 1.0,
    "scale_seconds": 3600.0,
}
_ABOVE_ZERO = frozenset({"tps_per_inference_unit", "scale_seconds"})


@dataclasses.dataclass(frozen=True)
class EmulatorSettings:
    """How the emulated model behaves; defaults suit the local demo (short waits, ample capacity).

    start_seconds / stop_seconds: time spent in STARTING / STOPPING (AWS takes minutes).
    tps_per_inference_unit: DetectCustomLabels calls admitted per rolling second per inference unit.
    latency_ms: time each admitted DetectCustomLabels call takes.
    fail_next_start: the next StartProjectVersion ends in FAILED (consumed by that start).
    throttle_fraction / transient_error_fraction: share of admitted calls answered with
    ProvisionedThroughputExceededException / InternalServerError, drawn from a seeded generator.
    scale_seconds: with MaxInferenceUnits, how often auto-scaling may add or remove a unit.
    failing_key: every call for an image whose key contains this text answers InternalServerError ("": none).
    """

    start_seconds: float = 3.0
    stop_seconds: float = 1.0
    tps_per_inference_unit: float = 10.0
    latency_ms: float = 50.0
    fail_next_start: bool = False
    throttle_fraction: float = 0.0
    transient_error_fraction: float = 0.0
    scale_seconds: float = 5.0
    failing_key: str = ""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _checked(field.name, getattr(self, field.name), field.default)

    def with_changes(self, changes: Mapping[str, object]) -> EmulatorSettings:
        """A copy with `changes` applied; all of them or none (SettingsError names the first bad one)."""
        fields = {field.name: field for field in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise SettingsError(
                f"unknown setting(s) {', '.join(unknown)}; known settings: {', '.join(sorted(fields))}"
            )
        return dataclasses.replace(
            self, **{name: _checked(name, value, fields[name].default) for name, value in changes.items()}
        )


def _checked(name: str, value: object, default: object) -> Any:
    """`value` as setting `name` holds it (numbers as floats), or SettingsError; `default` gives its type."""
    if isinstance(default, str | bool):
        if not isinstance(value, type(default)):
            kind = "text" if isinstance(default, str) else "true or false"
            raise SettingsError(f"{name} must be {kind}, not {value!r}")
        return value
    # bool is an int subclass: `true` for a duration is a mistake, not 1 second.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SettingsError(f"{name} must be a number, not {value!r}")
    if not 0 <= value <= _MAXIMUM[name] or (value == 0 and name in _ABOVE_ZERO):
        lower = "(" if name in _ABOVE_ZERO else "["
        raise SettingsError(f"{name} must be in {lower}0, {_MAXIMUM[name]:g}], not {value!r}")
    return float(value)
