"""The emulated Custom Labels project and model version: lifecycle, capacity, inference and usage.

Operations take and return the JSON documents of the Rekognition API (botocore's `rekognition` model), so
the WSGI layer only moves bytes. Time comes from an injected monotonic clock and the lifecycle is computed
from it when asked, so tests move time instead of waiting. One lock guards the state; image decoding,
detection and the configured latency happen outside it, so slow calls do not serialize the others.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any

from labelbatch.emulator.detector import detect_boxes
from labelbatch.emulator.errors import RekognitionError, internal_server_error
from labelbatch.emulator.image_rules import load_image
from labelbatch.emulator.settings import EmulatorSettings

Clock = Callable[[], float]
Sleep = Callable[[float], None]
ObjectFetcher = Callable[[str, str, str | None], bytes | None]
"""fetch_object(bucket, key, version_id) -> the object's bytes, or None when it does not exist."""

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"
DEMO_PROJECT_NAME = "labelbatch-demo"
DEMO_VERSION_NAME = "labelbatch-demo.2024-01-01T00.00.00"

# Without MinConfidence a real model applies each label's calibrated ("assumed") threshold from training;
# this stand-in has no training, so one fixed threshold plays that part.
DEFAULT_MIN_CONFIDENCE = 50.0
# Rolling window over which tps_per_inference_unit is enforced.
CAPACITY_WINDOW_SECONDS = 1.0
# Below this share of capacity over a scaling period, an auto-scaled model gives back a unit.
SCALE_IN_UTILIZATION = 0.5
BILLABLE_TRAINING_SECONDS = 3600

OPERATIONS = frozenset(
    {
        "DescribeProjects",
        "DescribeProjectVersions",
        "StartProjectVersion",
        "StopProjectVersion",
        "DetectCustomLabels",
    }
)
STARTABLE = frozenset({"TRAINING_COMPLETED", "STOPPED", "FAILED"})
# AWS documents StopProjectVersion only as "Stops a running model". AWS's own batch sample
# (aws-samples/amazon-rekognition-custom-labels-batch-processing, functions/stop_model/app.py) stops a
# model that is STARTING as well, so both are accepted; anything else is ResourceInUseException.
STOPPABLE = frozenset({"STARTING", "RUNNING"})
INITIAL_STATUSES = frozenset({"TRAINING_COMPLETED", "STOPPED", "RUNNING"})

_STATUS_MESSAGES = {
    "TRAINING_COMPLETED": "The model is ready to run.",
    "STARTING": "The model is being started.",
    "RUNNING": "The model is running.",
    "STOPPING": "The model is being stopped.",
    "STOPPED": "The model is stopped.",
    "FAILED": "The model failed to start: a start failure was injected (fail_next_start).",
}


def demo_model_arns(region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID) -> tuple[str, str]:
    """(ProjectArn, ProjectVersionArn) of the demo model. The version name is the 4th '/'-field."""
    project_arn = f"arn:aws:rekognition:{region}:{account_id}:project/{DEMO_PROJECT_NAME}/1700000000000"
    version_arn = (
        f"arn:aws:rekognition:{region}:{account_id}:project/{DEMO_PROJECT_NAME}/version/"
        f"{DEMO_VERSION_NAME}/1700000000001"
    )
    return project_arn, version_arn


class CustomLabelsEmulator:
    """One Custom Labels project holding one model version, answering the five Custom Labels operations.

    `call(operation, request)` returns the response document or raises RekognitionError. `model_report()`
    is the operator's view (status, usage, settings); `update_settings()` and `stop_as_operator()` are the
    control API.
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
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        seed: int = 0,
    ) -> None:
        default_project_arn, default_version_arn = demo_model_arns()
        self.project_arn = project_arn or default_project_arn
        self.project_version_arn = project_version_arn or default_version_arn
        project_name = _arn_field(self.project_arn, 1)
        if not self.project_version_arn.startswith(self.project_arn.rsplit("/", 1)[0] + "/version/"):
            raise ValueError(f"{self.project_version_arn} is not a version of project {project_name}")
        if initial_status not in INITIAL_STATUSES:
            raise ValueError(
                f"initial_status must be one of {sorted(INITIAL_STATUSES)}, not {initial_status}"
            )
        self.project_name = project_name
        self.version_name = _arn_field(self.project_version_arn, 3)
        self._project_created = _arn_epoch_seconds(self.project_arn)
        self._version_created = _arn_epoch_seconds(self.project_version_arn)
        self._fetch_object = fetch_object
        self._clock = clock
        self._sleep = sleep
        # Not for security: a seeded generator makes injected faults repeatable run after run.
        self._random = random.Random(seed)  # noqa: S311
        self._lock = threading.Lock()

        self._settings = settings or EmulatorSettings()
        self._status = initial_status
        self._transition_at: float | None = None
        self._start_will_fail = False
        self._min_inference_units: int | None = None
        self._max_inference_units: int | None = None
        # The units serving now, between Min and Max: (since, units) for each change while RUNNING.
        self._units_timeline: list[tuple[float, int]] = []
        self._running_since: float | None = None
        self._admitted: deque[float] = deque()
        self._scaling_period_started = 0.0
        self._period_admitted = 0
        self._period_overrun = 0
        self._first_call_at: float | None = None
        self._last_answer_at: float | None = None

        self._closed_running_seconds = 0.0
        self._closed_billed_seconds = 0.0
        self._start_calls = 0
        self._stop_calls = 0
        self._detect_calls = 0
        self._successful_calls = 0
        self._throttled_calls = 0
        self._capacity_throttled_calls = 0
        self._errors: Counter[str] = Counter()
        if initial_status == "RUNNING":
            self._min_inference_units = initial_inference_units
            self._running_since = self._clock()
            self._units_timeline = [(self._running_since, initial_inference_units)]

    # -- the Rekognition API -------------------------------------------------------------------------

    def call(self, operation: str, request: Mapping[str, Any]) -> dict[str, Any]:
        """Run one operation; raises RekognitionError with the code AWS would answer."""
        handlers: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
            "DescribeProjects": self.describe_projects,
            "DescribeProjectVersions": self.describe_project_versions,
            "StartProjectVersion": self.start_project_version,
            "StopProjectVersion": self.stop_project_version,
            "DetectCustomLabels": self.detect_custom_labels,
        }
        handler = handlers.get(operation)
        if handler is None:
            raise RekognitionError(
                "InvalidParameterException", f"The emulator does not implement {operation}."
            )
        return handler(request)

    def describe_projects(self, request: Mapping[str, Any]) -> dict[str, Any]:
        names = _optional_str_list(request, "ProjectNames")
        features = _optional_str_list(request, "Features")
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
        if _required_str(request, "ProjectArn") != self.project_arn:
            raise RekognitionError("ResourceNotFoundException", f"Project {request['ProjectArn']} not found.")
        names = _optional_str_list(request, "VersionNames")
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
        min_units = _required_int(request, "MinInferenceUnits", minimum=1)
        max_units = _optional_int(request, "MaxInferenceUnits", minimum=1)
        if max_units is not None and max_units < min_units:
            raise RekognitionError(
                "InvalidParameterException",
                "MaxInferenceUnits must be greater than or equal to MinInferenceUnits.",
            )
        with self._lock:
            now = self._clock()
            self._advance(now)
            if self._status not in STARTABLE:
                raise _in_use(self._status)
            self._min_inference_units, self._max_inference_units = min_units, max_units
            self._start_will_fail = self._settings.fail_next_start
            self._settings = dataclasses.replace(self._settings, fail_next_start=False)
            self._status = "STARTING"
            self._transition_at = now + self._settings.start_seconds
            self._start_calls += 1
            return {"Status": self._status}

    def stop_project_version(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._require_version(request)
        with self._lock:
            return {"Status": self._stop(self._clock())}

    def detect_custom_labels(self, request: Mapping[str, Any]) -> dict[str, Any]:
        self._require_version(request)
        with self._lock:
            now = self._clock()
            self._advance(now)
            self._detect_calls += 1
            try:
                self._admit(now)
            except RekognitionError as error:
                self._count_error(error)
                raise
            latency_seconds = self._settings.latency_ms / 1000.0
        if latency_seconds > 0:
            self._sleep(latency_seconds)
        try:
            labels = self._analyze(request)
        except RekognitionError as error:
            with self._lock:
                self._count_error(error)
            raise
        with self._lock:
            self._successful_calls += 1
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
        """Stop the model as someone outside the pipeline would (console, CLI); returns the new status."""
        with self._lock:
            return self._stop(self._clock())

    def capacity_calls(self, start: float, end: float) -> float:
        """The calls the model could admit between two moments of its clock: units x TPS, integrated."""
        with self._lock:
            return self._unit_seconds(start, end) * self._settings.tps_per_inference_unit

    def model_report(self) -> dict[str, Any]:
        """Status, usage and settings, as GET /_labelbatch/model shows them."""
        with self._lock:
            now = self._clock()
            self._advance(now)
            open_seconds = now - self._running_since if self._running_since is not None else 0.0
            open_unit_seconds = self._unit_seconds(self._running_since, now) if self._running_since else 0.0
            return {
                "projectArn": self.project_arn,
                "projectVersionArn": self.project_version_arn,
                "status": self._status,
                "statusMessage": _STATUS_MESSAGES[self._status],
                "minInferenceUnits": self._min_inference_units,
                "maxInferenceUnits": self._max_inference_units,
                "inferenceUnits": self._units_timeline[-1][1] if self._running_since is not None else 0,
                "usage": {
                    "runningSeconds": self._closed_running_seconds + open_seconds,
                    "billedInferenceUnitSeconds": self._closed_billed_seconds + open_unit_seconds,
                    "startCalls": self._start_calls,
                    "stopCalls": self._stop_calls,
                    "detectCustomLabelsCalls": self._detect_calls,
                    "successfulCalls": self._successful_calls,
                    "throttledCalls": self._throttled_calls,
                    # Refused because the model was at capacity, as opposed to injected throttling.
                    "capacityThrottledCalls": self._capacity_throttled_calls,
                    "errorCalls": sum(self._errors.values()),
                    "errorsByCode": dict(sorted(self._errors.items())),
                    # The emulator's clock when the first call was admitted and the last one answered.
                    "firstCallAt": self._first_call_at,
                    "lastAnswerAt": self._last_answer_at,
                },
                "settings": self._settings.as_dict(),
            }

    # -- internals (callers hold the lock) ------------------------------------------------------------

    def _advance(self, now: float) -> None:
        """Complete a start or stop whose duration has elapsed by `now`."""
        if self._transition_at is None or now < self._transition_at:
            return
        finished_at, self._transition_at = self._transition_at, None
        if self._status == "STOPPING":
            self._status = "STOPPED"
        elif self._start_will_fail:
            self._status = "FAILED"
            self._start_will_fail = False
        else:
            self._status = "RUNNING"
            self._running_since = finished_at
            self._units_timeline = [(finished_at, self._min_inference_units or 1)]
            self._scaling_period_started = finished_at
            self._period_admitted = self._period_overrun = 0
            self._admitted.clear()

    def _stop(self, now: float) -> str:
        self._advance(now)
        if self._status not in STOPPABLE:
            raise _in_use(self._status)
        if self._running_since is not None:
            # Billing ends when the stop is accepted: AWS charges for the time the model is running, per unit.
            self._closed_running_seconds += now - self._running_since
            self._closed_billed_seconds += self._unit_seconds(self._running_since, now)
            self._running_since = None
        self._start_will_fail = False
        self._status = "STOPPING"
        self._transition_at = now + self._settings.stop_seconds
        self._stop_calls += 1
        return self._status

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
        capacity = max(1, int(self._settings.tps_per_inference_unit * self._units_timeline[-1][1]))
        if len(self._admitted) >= capacity:
            self._capacity_throttled_calls += 1
            self._period_overrun += 1
            raise RekognitionError("ProvisionedThroughputExceededException", "Provisioned Rate exceeded.")
        if self._settings.throttle_fraction > 0 and self._random.random() < self._settings.throttle_fraction:
            raise RekognitionError(
                "ProvisionedThroughputExceededException",
                "Provisioned Rate exceeded. (injected: throttle_fraction)",
            )
        if (
            self._settings.transient_error_fraction > 0
            and self._random.random() < self._settings.transient_error_fraction
        ):
            raise internal_server_error("Internal server error (injected: transient_error_fraction)")
        self._admitted.append(now)
        self._period_admitted += 1
        if self._first_call_at is None:
            self._first_call_at = now

    def _autoscale(self, now: float) -> None:
        """With MaxInferenceUnits, once per scaling period: a unit more after calls were refused at capacity,
        a unit less when less than half of the capacity was used, within Min and Max. AWS does not document
        its policy or its pace; this stands in for it."""
        if (
            self._max_inference_units is None
            or now - self._scaling_period_started < self._settings.scale_seconds
        ):
            return
        units = self._units_timeline[-1][1]
        period_capacity = self._settings.tps_per_inference_unit * units * (now - self._scaling_period_started)
        if self._period_overrun > 0:
            units = min(units + 1, self._max_inference_units)
        elif self._period_admitted < SCALE_IN_UTILIZATION * period_capacity:
            units = max(units - 1, self._min_inference_units or 1)
        if units != self._units_timeline[-1][1]:
            self._units_timeline.append((now, units))
        self._scaling_period_started = now
        self._period_admitted = self._period_overrun = 0

    def _unit_seconds(self, start: float, end: float) -> float:
        """Inference-unit seconds served between `start` and `end` (within the current RUNNING period)."""
        total = 0.0
        for index, (since, units) in enumerate(self._units_timeline):
            until = self._units_timeline[index + 1][0] if index + 1 < len(self._units_timeline) else end
            total += max(0.0, min(until, end) - max(since, start)) * units
        return total

    def _count_error(self, error: RekognitionError) -> None:
        if error.code == "ProvisionedThroughputExceededException":
            self._throttled_calls += 1
        else:
            self._errors[error.code] += 1

    def _require_version(self, request: Mapping[str, Any]) -> None:
        arn = _required_str(request, "ProjectVersionArn")
        if arn != self.project_version_arn:
            raise RekognitionError("ResourceNotFoundException", f"Model {arn} not found.")

    def _analyze(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        max_results = _optional_int(request, "MaxResults", minimum=0)
        min_confidence = _optional_number(request, "MinConfidence", minimum=0.0, maximum=100.0)
        threshold = DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence
        self._inject_key_failure(request.get("Image"))
        data, from_s3 = self._image_bytes(request.get("Image"))
        image = load_image(data, from_s3=from_s3)
        found = [box for box in detect_boxes(image) if box.confidence >= threshold]
        if max_results is not None:
            found = found[:max_results]
        return [box.to_custom_label() for box in found]

    def _inject_key_failure(self, image: object) -> None:
        fragment = self._settings.failing_key
        location = image.get("S3Object") if isinstance(image, dict) else None
        key = location.get("Name") if isinstance(location, dict) else None
        if fragment and isinstance(key, str) and fragment in key:
            raise internal_server_error(f"Internal server error (injected: failing_key {fragment!r})")

    def _image_bytes(self, image: object) -> tuple[bytes, bool]:
        """(data, from_s3) for the request's Image; exactly one of Bytes and S3Object must be given."""
        if not isinstance(image, dict) or ("Bytes" in image) == ("S3Object" in image):
            raise RekognitionError(
                "InvalidParameterException", "Image must have exactly one of Bytes and S3Object."
            )
        if "Bytes" in image:
            try:
                return base64.b64decode(image["Bytes"], validate=True), False
            except (binascii.Error, TypeError, ValueError) as exc:
                raise RekognitionError(
                    "InvalidParameterException", "Image.Bytes is not valid base64."
                ) from exc
        location = image["S3Object"]
        bucket = location.get("Bucket") if isinstance(location, dict) else None
        key = location.get("Name") if isinstance(location, dict) else None
        version = location.get("Version") if isinstance(location, dict) else None
        if not isinstance(bucket, str) or not isinstance(key, str) or not isinstance(version, str | None):
            raise RekognitionError(
                "InvalidParameterException", "Image.S3Object needs Bucket and Name strings."
            )
        data = self._fetch_object(bucket, key, version)
        if data is None:
            raise RekognitionError(
                "InvalidS3ObjectException",
                "Unable to get object metadata from S3. Check object key, region and/or access permissions.",
            )
        return data, True


def _in_use(status: str) -> RekognitionError:
    return RekognitionError(
        "ResourceInUseException", f"Specified resource is in use (model status {status})."
    )


def _arn_field(arn: str, index: int) -> str:
    fields = arn.split("/")
    if len(fields) <= index:
        raise ValueError(f"{arn} has no '/'-field {index}")
    return fields[index]


def _arn_epoch_seconds(arn: str) -> float:
    """Custom Labels ARNs end in their creation time in epoch milliseconds."""
    millis = arn.rsplit("/", 1)[-1]
    if not millis.isdigit():
        raise ValueError(f"{arn} does not end in a creation time (epoch milliseconds)")
    return int(millis) / 1000.0


def _required_str(request: Mapping[str, Any], name: str) -> str:
    value = request.get(name)
    if not isinstance(value, str) or not value:
        raise RekognitionError("InvalidParameterException", f"{name} is required and must be a string.")
    return value


def _optional_str_list(request: Mapping[str, Any], name: str) -> list[str] | None:
    value = request.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RekognitionError("InvalidParameterException", f"{name} must be a list of strings.")
    return value


def _required_int(request: Mapping[str, Any], name: str, *, minimum: int) -> int:
    value = _optional_int(request, name, minimum=minimum)
    if value is None:
        raise RekognitionError("InvalidParameterException", f"{name} is required.")
    return value


def _optional_int(request: Mapping[str, Any], name: str, *, minimum: int) -> int | None:
    value = request.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RekognitionError("InvalidParameterException", f"{name} must be an integer >= {minimum}.")
    return value


def _optional_number(
    request: Mapping[str, Any], name: str, *, minimum: float, maximum: float
) -> float | None:
    value = request.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value <= maximum:
        raise RekognitionError(
            "InvalidParameterException", f"{name} must be a number in [{minimum}, {maximum}]."
        )
    return float(value)
