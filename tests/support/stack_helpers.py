"""What the end-to-end and state-machine path tests observe on a local stack, as a user of the stack would.

Everything goes through the stack's endpoint and its outputs (never hard-coded names): the AWS APIs with
boto3, and the emulated model's status and usage through the control API (GET /_labelbatch/model).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from analyze_image.result import result_key
from labelbatch.emulator import MODEL_CONTROL_PATH, EmulatorSettings
from labelbatch.images import SampleImage
from labelbatch.local import local_session
from labelbatch.local.moto_shims import MappingSwitch

# Short enough that a run takes seconds, long enough that the run sees STARTING and polls again.
FAST_MODEL = EmulatorSettings(start_seconds=1, stop_seconds=0.5)
RUN_TIMEOUT_SECONDS = 120
# The endpoint serving each DescribeExecution runs in this process, beside the run: polled 20 times a second,
# a two-image run took 4.3 s of CPU, against 2.4 s polled twice a second (the wall time the same).
EXECUTION_POLL_SECONDS = 0.25
# What S3 sends to the queue when a bucket notification is written (no Records).
TEST_EVENT = "s3:TestEvent"
LABELBATCH = Path(sys.executable).with_name("labelbatch")
READY_TIMEOUT_SECONDS = 60
# A normalized bounding box may differ from the drawn one by a pixel or two (JPEG edges).
BOX_TOLERANCE = 0.01


class StartLocalStack(Protocol):
    """The `start_local_stack` fixture (tests/conftest.py)."""

    def __call__(
        self,
        *,
        emulator: EmulatorSettings = ...,
        parameters: Mapping[str, str] | None = ...,
        mapping_switch: MappingSwitch | None = ...,
        keep_test_event: bool = ...,
    ) -> StackUnderTest: ...


@dataclass(frozen=True)
class Execution:
    """A finished batch run as DescribeExecution and GetExecutionHistory show it."""

    arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    entered: list[str]
    """Every state entered, in order, loop iterations included."""
    task_resources: list[str]
    """The Resource of every Task scheduled, in order."""


@dataclass
class StackUnderTest:
    """A started local stack, seen only through its endpoint, whose image queue holds nothing yet."""

    endpoint: str
    region: str
    outputs: dict[str, str]
    deploy_test_event: str
    """The s3:TestEvent S3 sent when the deployment wrote the bucket notification (taken off the queue)."""
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def prepared(
        cls, endpoint: str, region: str, outputs: Mapping[str, str], *, keep_test_event: bool = False
    ) -> StackUnderTest:
        # As on AWS, writing the bucket notification put one s3:TestEvent in the queue. Tests start from an
        # empty queue unless they ask for it; the test event has its own scenarios.
        sqs = _client(endpoint, region, "sqs")
        queue_url = outputs["ImageQueueUrl"]
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0
        ).get("Messages", [])
        assert [json.loads(m["Body"]).get("Event") for m in messages] == [TEST_EVENT]
        if not keep_test_event:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
        return cls(
            endpoint=endpoint, region=region, outputs=dict(outputs), deploy_test_event=messages[0]["Body"]
        )

    # -- the stack's outputs ----------------------------------------------------------------------------

    @property
    def bucket(self) -> str:
        return self.outputs["ImageBucketName"]

    @property
    def input_prefix(self) -> str:
        return self.outputs["InputPrefix"]

    @property
    def results_prefix(self) -> str:
        return self.outputs["ResultsPrefix"]

    def client(self, service: str) -> Any:
        """One client per service, shared: boto3 clients are safe to use from several threads."""
        if service not in self._clients:
            self._clients[service] = _client(self.endpoint, self.region, service)
        return self._clients[service]

    # -- what a user does -------------------------------------------------------------------------------

    def upload(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> str:
        """Put one object; returns its VersionId (the template's bucket is versioned)."""
        response = self.client("s3").put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type
        )
        return str(response["VersionId"])

    def upload_samples(self, samples: Iterable[SampleImage], folder: str = "") -> dict[str, SampleImage]:
        """Upload each sample under InputPrefix + folder; returns the samples by their image key."""
        uploaded: dict[str, SampleImage] = {}
        for sample in samples:
            key = f"{self.input_prefix}{folder}{sample.path.name}"
            content_type = "image/png" if sample.path.suffix == ".png" else "image/jpeg"
            self.upload(key, sample.path.read_bytes(), content_type)
            uploaded[key] = sample
        return uploaded

    def start_run(self) -> str:
        """Start a batch run as the template's schedule does (input "{}", a unique name)."""
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=self.outputs["StateMachineArn"], name=f"test-run-{uuid.uuid4().hex}", input="{}"
        )
        return str(response["executionArn"])

    def run_to_end(self, timeout: float = RUN_TIMEOUT_SECONDS) -> Execution:
        return self.wait(self.start_run(), timeout)

    def wait(self, execution_arn: str, timeout: float = RUN_TIMEOUT_SECONDS) -> Execution:
        sfn = self.client("stepfunctions")
        try:
            _wait_until(
                lambda: sfn.describe_execution(executionArn=execution_arn)["status"] != "RUNNING",
                f"the end of {execution_arn}",
                timeout,
                interval=EXECUTION_POLL_SECONDS,
            )
        except pytest.fail.Exception as stuck:
            # Where it is stuck: the states it entered last.
            pytest.fail(f"{stuck}; its last states: {self.execution(execution_arn).entered[-8:]}")
        return self.execution(execution_arn)

    def execution(self, execution_arn: str) -> Execution:
        sfn = self.client("stepfunctions")
        description = sfn.describe_execution(executionArn=execution_arn)
        events = [
            event
            for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
            for event in page["events"]
        ]
        return execution_from(execution_arn, description, events)

    def executions(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self.client("stepfunctions").list_executions(
            stateMachineArn=self.outputs["StateMachineArn"]
        )["executions"]
        return listed

    # -- what a user sees -------------------------------------------------------------------------------

    def expected_result_key(self, image_key: str) -> str:
        return result_key(image_key, input_prefix=self.input_prefix, results_prefix=self.results_prefix)

    def result_documents(self) -> dict[str, dict[str, Any]]:
        """Every object under ResultsPrefix, parsed, by key."""
        s3 = self.client("s3")
        documents: dict[str, dict[str, Any]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.results_prefix
        ):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                documents[item["Key"]] = json.loads(body)
        return documents

    def consumer_state(self) -> str:
        mapping = self.client("lambda").get_event_source_mapping(UUID=self.outputs["EventSourceMappingId"])
        return str(mapping["State"])

    def marker(self) -> str:
        name = self.outputs["ModelStartMarkerParameterName"]
        return str(self.client("ssm").get_parameter(Name=name)["Parameter"]["Value"])

    def set_marker(self, value: str) -> None:
        name = self.outputs["ModelStartMarkerParameterName"]
        self.client("ssm").put_parameter(Name=name, Value=value, Type="String", Overwrite=True)

    def queue_backlog(self, output_name: str = "ImageQueueUrl") -> int:
        """Every message in the queue: visible, in flight and delayed."""
        return sum(self._queue_counts(output_name).values())

    def waiting(self) -> int:
        """Visible + in flight: the images the batch run drains."""
        counts = self._queue_counts("ImageQueueUrl")
        return counts["ApproximateNumberOfMessages"] + counts["ApproximateNumberOfMessagesNotVisible"]

    def retrying(self) -> int:
        """Delayed: images waiting out a retry delay, which a run leaves to a later one."""
        return self._queue_counts("ImageQueueUrl")["ApproximateNumberOfMessagesDelayed"]

    def _queue_counts(self, output_name: str) -> dict[str, int]:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.outputs[output_name],
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return {name: int(value) for name, value in attributes.items()}

    def dead_letters(self) -> int:
        return self.queue_backlog("DeadLetterQueueUrl")

    def model_report(self) -> dict[str, Any]:
        """GET /_labelbatch/model: the emulated model's status, usage and settings."""
        return self._model_control("GET")

    def configure_model(self, changes: Mapping[str, object]) -> None:
        self._model_control("POST", changes)

    def stop_model_as_operator(self) -> None:
        """Stop the model as someone outside the pipeline would (console, CLI)."""
        self._model_control("POST", {"action": "stop"})

    def _model_control(self, method: str, body: Mapping[str, object] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.endpoint}{MODEL_CONTROL_PATH}", data=data, method=method)
        with urllib.request.urlopen(request) as response:
            report: dict[str, Any] = json.loads(response.read())
        return report

    def model_status(self) -> str:
        return str(self.model_report()["status"])

    def model_usage(self) -> dict[str, Any]:
        usage: dict[str, Any] = self.model_report()["usage"]
        return usage

    # -- what an operator does --------------------------------------------------------------------------

    def start_model_as_operator(self) -> None:
        """Start the model with the Rekognition API, as from the console or CLI, and wait until RUNNING."""
        self.client("rekognition").start_project_version(
            ProjectVersionArn=self.model_report()["projectVersionArn"], MinInferenceUnits=1
        )
        self.wait_for_model("RUNNING")

    def wait_for_model(self, status: str, timeout: float = 30) -> None:
        _wait_until(lambda: self.model_status() == status, f"the model {status}", timeout)

    def wait_for_consumer(self, state: str, timeout: float = 30) -> None:
        _wait_until(lambda: self.consumer_state() == state, f"the consumer {state}", timeout)


def command_environment() -> dict[str, str]:
    """This process's environment without anything that points boto3 or moto at an account or an endpoint."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "MOTO_"))}
    return {**kept, "PYTHONUNBUFFERED": "1"}


@contextmanager
def local_up(directory: Path, *options: str) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    """`labelbatch local up --port 0 --no-schedule [options]` as a child process, killed on exit if still up.

    Yields the process and the JSON line it prints on stdout when ready. Its stdout and stderr go to
    local-up.stdout and local-up.stderr in `directory`.
    """
    stdout_path, stderr_path = directory / "local-up.stdout", directory / "local-up.stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [str(LABELBATCH), "local", "up", "--port", "0", "--no-schedule", *options],
            stdout=stdout,
            stderr=stderr,
            env=command_environment(),
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while b"\n" not in stdout_path.read_bytes():
            assert process.poll() is None, f"local up exited early:\n{stderr_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"local up printed nothing in {READY_TIMEOUT_SECONDS} s"
            time.sleep(0.1)
        yield process, json.loads(stdout_path.read_bytes().split(b"\n", 1)[0])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _client(endpoint: str, region: str, service: str) -> Any:
    session = local_session(region)
    # Typed as Any: the service name is a variable, which boto3-stubs' overloads cannot resolve.
    make_client: Any = session.client
    return make_client(service, endpoint_url=endpoint)


def _wait_until(condition: Callable[[], bool], what: str, timeout: float, interval: float = 0.05) -> None:
    """A guard against waiting forever, not a performance assertion."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not seen within {timeout} s")
        time.sleep(interval)


def execution_from(arn: str, description: Mapping[str, Any], events: list[dict[str, Any]]) -> Execution:
    output = description.get("output")
    return Execution(
        arn=arn,
        status=str(description["status"]),
        output=json.loads(output) if output else None,
        error=description.get("error"),
        cause=description.get("cause"),
        entered=[
            event["stateEnteredEventDetails"]["name"]
            for event in events
            if "stateEnteredEventDetails" in event
        ],
        task_resources=[
            f"{details['resourceType']}:{details['resource']}"
            for event in events
            if (details := event.get("taskScheduledEventDetails"))
        ],
    )


def stop_running_executions(sfn: Any, state_machine_arn: str) -> None:
    """Stop what a failed test left running, before its stack goes away."""
    running = sfn.list_executions(stateMachineArn=state_machine_arn, statusFilter="RUNNING")
    for execution in running["executions"]:
        sfn.stop_execution(executionArn=execution["executionArn"], cause="the test ended")


def assert_labels_match(document: Mapping[str, Any], sample: SampleImage) -> None:
    """The result lists exactly the boxes drawn on the sample: same names, same places."""
    found = [
        (label["Name"], *_box_ratios(label["Geometry"]["BoundingBox"]))
        for label in document["customLabels"] or []
    ]
    drawn = [(box.name, box.left, box.top, box.width, box.height) for box in sample.boxes]
    assert sorted(name for name, *_ in found) == sorted(name for name, *_ in drawn), sample.path.name
    for name, *expected in drawn:
        # Boxes of one colour are told apart by position: each drawn box takes the nearest box found.
        match = min(
            (item for item in found if item[0] == name),
            key=lambda item: sum(abs(a - b) for a, b in zip(item[1:], expected, strict=True)),
        )
        assert list(match[1:]) == pytest.approx(expected, abs=BOX_TOLERANCE), f"{sample.path.name}: {name}"
        found.remove(match)


def _box_ratios(box: Mapping[str, float]) -> tuple[float, float, float, float]:
    return box["Left"], box["Top"], box["Width"], box["Height"]
