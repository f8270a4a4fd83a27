"""Operator-tunable behaviour of the Custom Labels emulator, validated once for code and the control API."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any


class SettingsError(ValueError):
    """A setting change that was refused; the message says which key and why."""


def _number(default: float, maximum: float, *, above_zero: bool = False) -> Any:
    # Bounds keep a typo from freezing the local stack (a start that takes a day) or making it meaningless
    # (a zero capacity): a number is at least 0 (above it if above_zero) and at most `maximum`.
    return dataclasses.field(default=default, metadata={"maximum": maximum, "above_zero": above_zero})


@dataclasses.dataclass(frozen=True)
class EmulatorSettings:
    """How the emulated model behaves; defaults suit the local demo (short waits, ample capacity).

    start_seconds / stop_seconds: time spent in STARTING / STOPPING (AWS takes minutes).
    tps_per_inference_unit: DetectCustomLabels calls admitted per rolling second per inference unit.
    latency_ms: time each admitted DetectCustomLabels call takes.
    fail_next_start: the next StartProjectVersion ends in FAILED (consumed by that start).
    stopped_before_next_stop: someone else's stop lands just before the next StopProjectVersion, which then
    meets a STOPPING model (consumed by that stop).
    refuse_stops: every StopProjectVersion answers ResourceInUseException, whatever the status (AWS documents
    no bound on how long a model may refuse; the batch run gives up after ModelStartTimeoutMinutes).
    throttle_fraction / transient_error_fraction: share of admitted calls answered with
    ProvisionedThroughputExceededException / InternalServerError, drawn from a seeded generator.
    scale_seconds: with MaxInferenceUnits, how often auto-scaling may add or remove a unit.
    failing_key: every call for an image whose key contains this text answers InternalServerError ("": none).
    """

    start_seconds: float = _number(3.0, maximum=3600.0)
    stop_seconds: float = _number(1.0, maximum=3600.0)
    tps_per_inference_unit: float = _number(10.0, maximum=10_000.0, above_zero=True)
    latency_ms: float = _number(50.0, maximum=60_000.0)
    fail_next_start: bool = False
    stopped_before_next_stop: bool = False
    refuse_stops: bool = False
    throttle_fraction: float = _number(0.0, maximum=1.0)
    transient_error_fraction: float = _number(0.0, maximum=1.0)
    scale_seconds: float = _number(5.0, maximum=3600.0, above_zero=True)
    failing_key: str = ""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _checked(field, getattr(self, field.name))

    def with_changes(self, changes: Mapping[str, object]) -> EmulatorSettings:
        """A copy with `changes` applied; all of them or none (SettingsError names the first bad one)."""
        fields = {field.name: field for field in dataclasses.fields(self)}
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise SettingsError(
                f"unknown setting(s) {', '.join(unknown)}; known settings: {', '.join(sorted(fields))}"
            )
        return dataclasses.replace(
            self, **{name: _checked(fields[name], value) for name, value in changes.items()}
        )


def _checked(field: dataclasses.Field[Any], value: object) -> Any:
    """`value` as the setting holds it (a number as a float), or SettingsError."""
    if not field.metadata:  # text or true/false: only a value of the default's type
        if not isinstance(value, type(field.default)):
            kind = "text" if isinstance(field.default, str) else "true or false"
            raise SettingsError(f"{field.name} must be {kind}, not {value!r}")
        return value
    # bool is an int subclass: `true` for a duration is a mistake, not 1 second.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SettingsError(f"{field.name} must be a number, not {value!r}")
    maximum, above_zero = field.metadata["maximum"], field.metadata["above_zero"]
    if not 0 <= value <= maximum or (above_zero and value == 0):
        raise SettingsError(
            f"{field.name} must be in {'(' if above_zero else '['}0, {maximum:g}], not {value!r}"
        )
    return float(value)
