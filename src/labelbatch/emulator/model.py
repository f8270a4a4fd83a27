"""The emulated Custom Labels project and model version: lifecycle, capacity, inference and usage.

Operations take and return the JSON documents of the Rekognition API, so the WSGI layer only moves bytes.
Time comes from an injected monotonic clock and the lifecycle is computed from it when asked, so tests move
time instead of waiting. One lock guards the state; image decoding, detection and the configured latency
happen outside it, so slow calls do not serialize the others.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import itertools
import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any

from labelbatch.emulator.detector import detect_boxes
from labelbatch.emulator.errors import RekognitionError, internal_server_error, invalid_parameter
from labelbatch.emulator.image_rules import load_image
from labelbatch.emulator.settings import EmulatorSettings
from labelbatch.planning.meter import Meter

ObjectFetcher = Callable[[str, str, str | None], bytes | None]
"""fetch_object(bucket, key, version_id) -> the object's bytes, or None when it does not exist."""

# Without MinConfidence a real model applies each label's calibrated ("assumed") threshold from training;
# this stand-in has no training, so one fixed threshold plays that part.
DEFAULT_MIN_CONFIDENCE = 50.0
# Rolling window over which tps_per_inference_unit is enforced.
CAPACITY_WINDOW_SECONDS = 1.0
# Below this share of capacity over a scaling period, an auto-scaled model gives back a unit.
SCALE_IN_UTILIZATION = 0.5
BILLABLE_TRAINING_SECONDS = 3600

STARTABLE = frozenset({"TRAINING_COMPLETED", "STOPPED", "FAILED"})
# AWS documents StopProjectVersion only as "Stops a running model". AWS's own batch sample
# (aws-samples/amazon-rekognition-custom-labels-batch-processing, functions/stop_model/app.py) stops a
# model that is STARTING as well, so both are accepted; anything else is ResourceInUseException.
STOPPABLE = frozenset({"STARTING", "RUNNING"})
_STATUS_MESSAGES = {
    "TRAINING_COMPLETED": "The model is ready to run.",
    "STARTING": "The model is being started.",
    "RUNNING": "The model is running.",
    "STOPPING": "The model is being stopped.",
    "STOPPED": "The model is stopped.",
    "FAILED": "The model failed to start: a start failure was injected (fail_next_start).",
}


def demo_model_arns(region: str = "us-east-1", account_id: str = "123456789012") -> tuple[str, str]:
    """(ProjectArn, ProjectVersionArn) of the demo model. The version name is the 4th '/'-field."""
    project = f"arn:aws:rekognition:{region}:{account_id}:project/labelbatch-demo"
    return f"{project}/1700000000000", f"{project}/version/labelbatch-demo.2024-01-01T00.00.00/1700000000001"


class CustomLabelsEmulator:
    """One Custom Labels project holding one model version, answering the five Custom Labels OPERATIONS
    (or raising RekognitionError), and the control API: model_report, update_settings, stop_as_operator.
    """

    def __init__(
        self,
        *,
        fetch_object: ObjectFetcher,
        project_arn: str | None = None,
        project_version_arn: str | None = None,
        settings: EmulatorSettings | None = None,
        initial_status: str = "TRAINING_COMPLETED",
        initial_inference_units: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        default_project_arn, default_version_arn = demo_model_arns()
        self.project_arn = project_arn or default_project_arn
        self.project_version_arn = project_version_arn or default_version_arn
        self.project_name = self.project_arn.split("/")[1]
        if not self.project_version_arn.startswith(self.project_arn.rsplit("/", 1)[0] + "/version/"):
            raise ValueError(f"{self.project_version_arn} is not a version of project {self.project_name}")
        if initial_status not in ("TRAINING_COMPLETED", "STOPPED", "RUNNING"):
            raise ValueError(
                f"initial_status must be TRAINING_COMPLETED, STOPPED or RUNNING, not {initial_status}"
            )
        self.version_name = self.project_version_arn.split("/")[3]
        # Custom Labels ARNs end in their creation time in epoch milliseconds.
        self._project_created = int(self.project_arn.rsplit("/", 1)[1]) / 1000.0
        self._version_created = int(self.project_version_arn.rsplit("/", 1)[1]) / 1000.0
        self._fetch_object = fetch_object
        self._clock = clock
        self._sleep = sleep
        # Not for security: a seeded generator makes injected faults repeatable run after run.
        self._random = random.Random(0)  # noqa: S311
        self._lock = threading.Lock()

        self._settings = settings or EmulatorSettings()
        self._status = initial_status
        # The start or stop under way: when it ends, and the status it ends in.
        self._transition: tuple[float, str] | None = None
        running = initial_status == "RUNNING"
        self._min_inference_units: int | None = initial_inference_units if running else None
        self._max_inference_units: int | None = None
        # The inference units serving from each moment on (0 unless RUNNING); usage and capacity integrate it.
        self._units = [(clock(), initial_inference_units if running else 0)]
        self._admitted: deque[float] = deque()
        self._scaling_period_started = 0.0
        self._period_admitted = self._period_overrun = 0
        self._first_call_at: float | None = None
        self._last_answer_at: float | None = None
        self._calls: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()

    # -- the Rekognition API -------------------------------------------------------------------------

    def describe_projects(self, request: Mapping[str, Any]) -> dict[str, Any]:
        names = _member(request, "ProjectNames")
        features = _member(request, "Features")
        if (names is not None and self.project_name not in names) or (
            features is not None and "CUSTOM_LABELS" not in features
        ):
            return {"ProjectDescriptions": []}
        description = {
            "ProjectArn": self.project_arn,
            "CreationTimestamp": self._project_created,
            "Status": "CREATED",
            "Feature": "CUSTOM_LABELS",
        }
        return {"ProjectDescriptions": [description]}

    def describe_project_versions(self, request: Mapping[str, Any]) -> dict[str, Any]:
        if _member(request, "ProjectArn", required=True) != self.project_arn:
            raise RekognitionError("ResourceNotFoundException", f"Project {request['ProjectArn']} not found.")
        names = _member(request, "VersionNames")
        if names is not None and self.version_name not in names:
            return {"ProjectVersionDescriptions": []}
        with self._lock:
            self._advance(self._clock())
            description: dict[str, Any] = {
                "ProjectVersionArn": self.project_version_arn,
                "CreationTimestamp": self._version_created,
                "Status": self._status,
                "StatusMessage": _STATUS_MESSAGES[self._status],
                "BillableTrainingTimeInSeconds": BILLABLE_TRAINING_SECONDS,
                "TrainingEndTimestamp": self._version_created + BILLABLE_TRAINING_SECONDS,
                "Feature": "CUSTOM_LABELS",
            }
            if self._min_inference_units is not None:
                description["MinInferenceUnits"] = self._min_inference_units
            if self._max_inference_units is not None:
                description["MaxInferenceUnits"] = self._max_inference_units
        return {"ProjectVersionDescriptions": [description]}

    def start_project_version(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._require_version(request)
        min_units = _member(request, "MinInferenceUnits")
        if min_units is None:
            raise invalid_parameter("MinInferenceUnits is required.")
        max_units = _member(request, "MaxInferenceUnits")
        if max_units is not None and max_units < min_units:
            raise invalid_parameter("MaxInferenceUnits must be greater than or equal to MinInferenceUnits.")
        with self._lock:
            now = self._clock()
            self._advance(now)
            if self._status not in STARTABLE:
                raise _in_use(self._status)
            self._min_inference_units, self._max_inference_units = min_units, max_units
            outcome = "FAILED" if self._settings.fail_next_start else "RUNNING"
            self._settings = dataclasses.replace(self._settings, fail_next_start=False)
            self._status = "STARTING"
            self._transition = (now + self._settings.start_seconds, outcome)
            self._calls["startCalls"] += 1
            return {"Status": self._status}

    def stop_project_version(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._require_version(request)
        with self._lock:
            someone_else_first = self._settings.stopped_before_next_stop
            self._settings = dataclasses.replace(self._settings, stopped_before_next_stop=False)
            if self._settings.refuse_stops:
                raise _in_use(self._status)
        if someone_else_first:
            self.stop_as_operator()
        return {"Status": self.stop_as_operator()}

    def detect_custom_labels(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._require_version(request)
        try:
            with self._lock:
                now = self._clock()
                self._advance(now)
                self._calls["detectCustomLabelsCalls"] += 1
                self._admit(now)
                latency_seconds = self._settings.latency_ms / 1000.0
            if latency_seconds > 0:
                self._sleep(latency_seconds)
            labels = self._analyze(request)
        except RekognitionError as error:
            with self._lock:
                if error.code == "ProvisionedThroughputExceededException":
                    self._calls["throttledCalls"] += 1
                else:
                    self._errors[error.code] += 1
            raise
        with self._lock:
            self._calls["successfulCalls"] += 1
            self._last_answer_at = self._clock()
        return {"CustomLabels": labels}

    # -- the control API ------------------------------------------------------------------------------

    @property
    def settings(self) -> EmulatorSettings:
        with self._lock:
            return self._settings

    def update_settings(self, changes: Mapping[str, object]) -> EmulatorSettings:
        """Apply validated changes (SettingsError otherwise). A start or stop under way keeps its duration."""
        with self._lock:
            self._settings = self._settings.with_changes(changes)
            return self._settings

    def stop_as_operator(self) -> str:
        """StopProjectVersion as anyone may call it, the pipeline or an operator; returns the new status."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            if self._status not in STOPPABLE:
                raise _in_use(self._status)
            # Billing ends when the stop is accepted: AWS charges for the time the model is running, per unit.
            self._units.append((now, 0))
            self._status = "STOPPING"
            self._transition = (now + self._settings.stop_seconds, "STOPPED")
            self._calls["stopCalls"] += 1
            return self._status

    def capacity_calls(self, start: float, end: float) -> float:
        """The calls the model could admit between two moments of its clock: units x TPS, integrated."""
        with self._lock:
            return self._meter(start, end).running_unit_seconds * self._settings.tps_per_inference_unit

    def model_report(self) -> dict[str, Any]:
        """Status, usage and settings, as GET /_labelbatch/model shows them."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            meter = self._meter(-math.inf, now)
            return {
                "projectArn": self.project_arn,
                "projectVersionArn": self.project_version_arn,
                "status": self._status,
                "statusMessage": _STATUS_MESSAGES[self._status],
                "minInferenceUnits": self._min_inference_units,
                "maxInferenceUnits": self._max_inference_units,
                "inferenceUnits": self._units[-1][1],
                "usage": {
                    "runningSeconds": meter.running_seconds,
                    "billedInferenceUnitSeconds": meter.running_unit_seconds,
                    "startCalls": self._calls["startCalls"],
                    "stopCalls": self._calls["stopCalls"],
                    "detectCustomLabelsCalls": self._calls["detectCustomLabelsCalls"],
                    "successfulCalls": self._calls["successfulCalls"],
                    "throttledCalls": self._calls["throttledCalls"],
                    # Refused because the model was at capacity, as opposed to injected throttling.
                    "capacityThrottledCalls": self._calls["capacityThrottledCalls"],
                    "errorCalls": sum(self._errors.values()),
                    "errorsByCode": dict(sorted(self._errors.items())),
                    # The emulator's clock when the first call was admitted and the last one answered.
                    "firstCallAt": self._first_call_at,
                    "lastAnswerAt": self._last_answer_at,
                },
                "settings": dataclasses.asdict(self._settings),
            }

    # -- internals (callers hold the lock) ------------------------------------------------------------

    def _advance(self, now: float) -> None:
        """Complete a start or stop whose duration has elapsed by `now`."""
        if self._transition is None or now < self._transition[0]:
            return
        (finished_at, self._status), self._transition = self._transition, None
        if self._status == "RUNNING":
            self._units.append((finished_at, self._min_inference_units or 1))
            self._scaling_period_started = finished_at
            self._period_admitted = self._period_overrun = 0
            self._admitted.clear()

    def _admit(self, now: float) -> None:
        """Refuse a call the running model cannot take now; otherwise count it against capacity."""
        if self._status != "RUNNING":
            raise RekognitionError(
                "ResourceNotReadyException", f"The model is not running (status {self._status})."
            )
        while self._admitted and self._admitted[0] <= now - CAPACITY_WINDOW_SECONDS:
            self._admitted.popleft()
        self._autoscale(now)
        # At least one call a second gets through.
        if len(self._admitted) >= max(1, int(self._settings.tps_per_inference_unit * self._units[-1][1])):
            self._calls["capacityThrottledCalls"] += 1
            self._period_overrun += 1
            raise RekognitionError("ProvisionedThroughputExceededException", "Provisioned Rate exceeded.")
        if self._settings.throttle_fraction > 0 and self._random.random() < self._settings.throttle_fraction:
            raise RekognitionError(
                "ProvisionedThroughputExceededException",
                "Provisioned Rate exceeded. (injected: throttle_fraction)",
            )
        fraction = self._settings.transient_error_fraction
        if fraction > 0 and self._random.random() < fraction:
            raise internal_server_error("Internal server error (injected: transient_error_fraction)")
        self._admitted.append(now)
        self._period_admitted += 1
        if self._first_call_at is None:
            self._first_call_at = now

    def _autoscale(self, now: float) -> None:
        """With MaxInferenceUnits, once per scaling period: a unit more after calls were refused at capacity,
        a unit less when less than half of the capacity was used, within Min and Max. AWS does not document
        its policy or its pace; this stands in for it."""
        period_seconds = now - self._scaling_period_started
        if self._max_inference_units is None or period_seconds < self._settings.scale_seconds:
            return
        units = self._units[-1][1]
        period_capacity = self._settings.tps_per_inference_unit * units * period_seconds
        if self._period_overrun > 0:
            units = min(units + 1, self._max_inference_units)
        elif self._period_admitted < SCALE_IN_UTILIZATION * period_capacity:
            units = max(units - 1, self._min_inference_units or 1)
        if units != self._units[-1][1]:
            self._units.append((now, units))
        self._scaling_period_started = now
        self._period_admitted = self._period_overrun = 0

    def _meter(self, start: float, end: float) -> Meter:
        """Running time and inference-unit seconds between two moments, metered as the cost planner meters."""
        meter = Meter(horizon=end, start=start)
        for (since, units), (until, _) in itertools.pairwise([*self._units, (end, 0)]):
            if units:
                meter.running(since, until, units)
        return meter

    def _require_version(self, request: Mapping[str, Any]) -> None:
        arn = _member(request, "ProjectVersionArn", required=True)
        if arn != self.project_version_arn:
            raise RekognitionError("ResourceNotFoundException", f"Model {arn} not found.")

    def _analyze(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        max_results = _member(request, "MaxResults")
        min_confidence = _member(request, "MinConfidence")
        threshold = DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence
        data, from_s3 = self._image_bytes(request.get("Image"))
        labels = _labels_of(data, from_s3=from_s3)
        return [dict(label) for label in labels if label["Confidence"] >= threshold][:max_results]

    def _image_bytes(self, image: object) -> tuple[bytes, bool]:
        """(data, from_s3) for the request's Image; exactly one of Bytes and S3Object must be given."""
        location = image.get("S3Object") if isinstance(image, dict) else None
        bucket, key, version = (
            location.get(name) if isinstance(location, dict) else None
            for name in ("Bucket", "Name", "Version")
        )
        failing_key = self._settings.failing_key
        if failing_key and isinstance(key, str) and failing_key in key:
            raise internal_server_error(f"Internal server error (injected: failing_key {failing_key!r})")
        if not isinstance(image, dict) or ("Bytes" in image) == ("S3Object" in image):
            raise invalid_parameter("Image must have exactly one of Bytes and S3Object.")
        if "Bytes" in image:
            try:
                return base64.b64decode(image["Bytes"], validate=True), False
            except (TypeError, ValueError) as exc:  # binascii.Error is a ValueError
                raise invalid_parameter("Image.Bytes is not valid base64.") from exc
        if not isinstance(bucket, str) or not isinstance(key, str) or not isinstance(version, str | None):
            raise invalid_parameter("Image.S3Object needs Bucket and Name strings.")
        data = self._fetch_object(bucket, key, version)
        if data is None:
            raise RekognitionError(
                "InvalidS3ObjectException",
                "Unable to get object metadata from S3. Check object key, region and/or access permissions.",
            )
        return data, True


# The operations the emulator answers, by their name in X-Amz-Target; it leaves every other one to moto.
OPERATIONS: dict[str, Callable[[CustomLabelsEmulator, Mapping[str, Any]], dict[str, Any]]] = {
    "DescribeProjects": CustomLabelsEmulator.describe_projects,
    "DescribeProjectVersions": CustomLabelsEmulator.describe_project_versions,
    "StartProjectVersion": CustomLabelsEmulator.start_project_version,
    "StopProjectVersion": CustomLabelsEmulator.stop_project_version,
    "DetectCustomLabels": CustomLabelsEmulator.detect_custom_labels,
}


@functools.lru_cache(maxsize=64)
def _labels_of(data: bytes, *, from_s3: bool) -> tuple[dict[str, Any], ...]:
    """The labels of an image, found once per content: the detector is pure Python (about 30 ms an image), and
    benchmarks send the same few sample images thousands of times through the one process that serves the
    whole stack. A rejected image raises each time (lru_cache keeps no exceptions)."""
    return tuple(detect_boxes(load_image(data, from_s3=from_s3)))


def _in_use(status: str) -> RekognitionError:
    return RekognitionError(
        "ResourceInUseException", f"Specified resource is in use (model status {status})."
    )


def _text_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


_REQUIRED_TEXT = ("is required and must be a string", lambda value: isinstance(value, str) and value != "")
_UNITS = ("must be an integer >= 1", lambda value: isinstance(value, int) and value >= 1)
# What each request member the emulator reads must be; anything else is InvalidParameterException.
_MEMBER_RULES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "ProjectArn": _REQUIRED_TEXT,
    "ProjectVersionArn": _REQUIRED_TEXT,
    "ProjectNames": ("must be a list of strings", _text_list),
    "VersionNames": ("must be a list of strings", _text_list),
    "Features": ("must be a list of strings", _text_list),
    "MinInferenceUnits": _UNITS,
    "MaxInferenceUnits": _UNITS,
    "MaxResults": ("must be an integer >= 0", lambda value: isinstance(value, int) and value >= 0),
    "MinConfidence": (
        "must be a number in [0.0, 100.0]",
        lambda value: isinstance(value, int | float) and 0 <= value <= 100,
    ),
}


def _member(request: Mapping[str, Any], name: str, *, required: bool = False) -> Any:
    """The request's member `name`, checked against its rule; None when it is absent and not required."""
    value = request.get(name)
    problem, valid = _MEMBER_RULES[name]
    # bool is an int subclass, and `true` is not a number of units.
    if (required or value is not None) and (isinstance(value, bool) or not valid(value)):
        raise invalid_parameter(f"{name} {problem}.")
    return value
