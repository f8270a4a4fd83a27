"""Operator-tunable behaviour of the Custom Labels emulator, validated once for code and the control API."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple


class SettingsError(ValueError):
    """A setting change that was refused; the message says which key and why."""


class _Rule(NamedTuple):
    minimum: float
    maximum: float
    minimum_inclusive: bool


# Bounds keep a typo from freezing the local stack (a start that takes a day) or making it meaningless
# (a zero capacity). Booleans have no rule.
_NUMBER_RULES: dict[str, _Rule] = {
    "start_seconds": _Rule(0.0, 3600.0, minimum_inclusive=True),
    "stop_seconds": _Rule(0.0, 3600.0, minimum_inclusive=True),
    "tps_per_inference_unit": _Rule(0.0, 10_000.0, minimum_inclusive=False),
    "latency_ms": _Rule(0.0, 60_000.0, minimum_inclusive=True),
    "throttle_fraction": _Rule(0.0, 1.0, minimum_inclusive=True),
    "transient_error_fraction": _Rule(0.0, 1.0, minimum_inclusive=True),
    "scale_seconds": _Rule(0.0, 3600.0, minimum_inclusive=False),
}
_BOOLEAN_SETTINGS = frozenset({"fail_next_start"})
_TEXT_SETTINGS = frozenset({"failing_key"})


@dataclass(frozen=True)
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
            _checked(field.name, getattr(self, field.name))

    def with_changes(self, changes: Mapping[str, object]) -> EmulatorSettings:
        """A copy with `changes` applied; all of them or none (SettingsError names the first bad one)."""
        known = {field.name for field in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise SettingsError(
                f"unknown setting(s) {', '.join(unknown)}; known settings: {', '.join(sorted(known))}"
            )
        checked = {name: _checked(name, value) for name, value in changes.items()}
        # Each value was checked against its own field above; mypy cannot follow that per key.
        return dataclasses.replace(self, **checked)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, float | bool | str]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}


def _checked(name: str, value: object) -> float | bool | str:
    if name in _TEXT_SETTINGS:
        if not isinstance(value, str):
            raise SettingsError(f"{name} must be text, not {value!r}")
        return value
    if name in _BOOLEAN_SETTINGS:
        if not isinstance(value, bool):
            raise SettingsError(f"{name} must be true or false, not {value!r}")
        return value
    rule = _NUMBER_RULES[name]
    # bool is an int subclass: `true` for a duration is a mistake, not 1 second.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SettingsError(f"{name} must be a number, not {value!r}")
    too_low = value < rule.minimum if rule.minimum_inclusive else value <= rule.minimum
    if too_low or value > rule.maximum:
        lower = "[" if rule.minimum_inclusive else "("
        raise SettingsError(f"{name} must be in {lower}{rule.minimum:g}, {rule.maximum:g}], not {value!r}")
    return float(value)
