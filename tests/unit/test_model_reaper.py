"""The model reaper: it stops a model only when a run of this stack started it, no run is in progress and no
image is waiting; otherwise it touches nothing. Real botocore clients with Stubber: every call is checked
against the service model, and the exact sequence of calls across services is recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from model_reaper import app
from model_reaper.reaper import (
    AwsClients,
    ConsumerBusyError,
    ModelNotFoundError,
    ReapOutcome,
    reap_abandoned_model,
)
from model_reaper.settings import Settings, SettingsError, get_settings

pytestmark = pytest.mark.unit

ACCOUNT = "123456789012"
PROJECT_ARN = f"arn:aws:rekognition:us-east-1:{ACCOUNT}:project/defects/1761990000000"
VERSION_NAME = "defects.2025-11-01T10.00.00"
PROJECT_VERSION_ARN = (
    f"arn:aws:rekognition:us-east-1:{ACCOUNT}:project/defects/version/{VERSION_NAME}/1761991200000"
)
QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/labelbatch-1a2b3c4d-images"
MAPPING_ID = "6c4f1e2a-9b7d-4e0f-8a1b-2c3d4e5f6a7b"
STATE_MACHINE_ARN = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:labelbatch-batch-run"
MARKER_PARAMETER = "/labelbatch/labelbatch/model-start-marker"
RUN_ARN = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:labelbatch-batch-run:hourly-run-1"

ENVIRONMENT = {
    "PROJECT_ARN": PROJECT_ARN,
    "PROJECT_VERSION_ARN": PROJECT_VERSION_ARN,
    "IMAGE_QUEUE_URL": QUEUE_URL,
    "EVENT_SOURCE_MAPPING_ID": MAPPING_ID,
    "STATE_MACHINE_ARN": STATE_MACHINE_ARN,
    "MODEL_START_MARKER_PARAMETER": MARKER_PARAMETER,
}
SETTINGS = Settings(
    project_arn=PROJECT_ARN,
    project_version_arn=PROJECT_VERSION_ARN,
    image_queue_url=QUEUE_URL,
    event_source_mapping_id=MAPPING_ID,
    state_machine_arn=STATE_MACHINE_ARN,
    marker_parameter_name=MARKER_PARAMETER,
)

# The calls of a reap, in order.
READ_MARKER = "ssm.GetParameter"
DESCRIBE_MODEL = "rekognition.DescribeProjectVersions"
COUNT_BACKLOG = "sqs.GetQueueAttributes"
LIST_RUNS = "sfn.ListExecutions"
GET_MAPPING = "lambda.GetEventSourceMapping"
DISABLE_MAPPING = "lambda.UpdateEventSourceMapping"
STOP_MODEL = "rekognition.StopProjectVersion"
CLEAR_MARKER = "ssm.PutParameter"


@dataclass
class StubbedAws:
    """Real clients whose answers are scripted; `calls` records every request in the order it was made."""

    clients: AwsClients
    stubbers: dict[str, Stubber]
    calls: list[str] = field(default_factory=list)

    def marker(self, value: str) -> None:
        self.stubbers["ssm"].add_response(
            "get_parameter",
            {"Parameter": {"Name": MARKER_PARAMETER, "Type": "String", "Value": value, "Version": 3}},
            {"Name": MARKER_PARAMETER},
        )

    def model(self, status: str) -> None:
        self.stubbers["rekognition"].add_response(
            "describe_project_versions",
            {"ProjectVersionDescriptions": [{"ProjectVersionArn": PROJECT_VERSION_ARN, "Status": status}]},
            {"ProjectArn": PROJECT_ARN, "VersionNames": [VERSION_NAME]},
        )

    def backlog(self, visible: int = 0, in_flight: int = 0, delayed: int = 0) -> None:
        self.stubbers["sqs"].add_response(
            "get_queue_attributes",
            {
                "Attributes": {
                    "ApproximateNumberOfMessages": str(visible),
                    "ApproximateNumberOfMessagesNotVisible": str(in_flight),
                    "ApproximateNumberOfMessagesDelayed": str(delayed),
                }
            },
            {
                "QueueUrl": QUEUE_URL,
                "AttributeNames": [
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            },
        )

    def running_runs(self, *names: str) -> None:
        executions = [
            {
                "executionArn": f"arn:aws:states:us-east-1:{ACCOUNT}:execution:labelbatch-batch-run:{name}",
                "stateMachineArn": STATE_MACHINE_ARN,
                "name": name,
                "status": "RUNNING",
                "startDate": datetime(2025, 11, 1, 10, 0, tzinfo=UTC),
            }
            for name in names
        ]
        self.stubbers["sfn"].add_response(
            "list_executions",
            {"executions": executions},
            {"stateMachineArn": STATE_MACHINE_ARN, "statusFilter": "RUNNING", "maxResults": 1},
        )

    def mapping(self, state: str) -> None:
        self.stubbers["lambda"].add_response(
            "get_event_source_mapping", {"UUID": MAPPING_ID, "State": state}, {"UUID": MAPPING_ID}
        )

    def disable_mapping(self, error_code: str | None = None) -> None:
        expected = {"UUID": MAPPING_ID, "Enabled": False}
        if error_code is None:
            self.stubbers["lambda"].add_response(
                "update_event_source_mapping", {"UUID": MAPPING_ID, "State": "Disabling"}, expected
            )
        else:
            self.stubbers["lambda"].add_client_error(
                "update_event_source_mapping", error_code, "The resource is being updated.", 409, expected
            )

    def stop_model(self, error_code: str | None = None) -> None:
        expected = {"ProjectVersionArn": PROJECT_VERSION_ARN}
        if error_code is None:
            self.stubbers["rekognition"].add_response(
                "stop_project_version", {"Status": "STOPPING"}, expected
            )
        else:
            self.stubbers["rekognition"].add_client_error(
                "stop_project_version", error_code, "The model is busy.", 400, expected
            )

    def clear_marker(self) -> None:
        self.stubbers["ssm"].add_response(
            "put_parameter",
            {"Version": 4, "Tier": "Standard"},
            {"Name": MARKER_PARAMETER, "Value": "none", "Type": "String", "Overwrite": True},
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubbedAws]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clients = {
        "rekognition": boto3.client("rekognition", region_name="us-east-1"),
        "ssm": boto3.client("ssm", region_name="us-east-1"),
        "sqs": boto3.client("sqs", region_name="us-east-1"),
        "lambda": boto3.client("lambda", region_name="us-east-1"),
        "sfn": boto3.client("stepfunctions", region_name="us-east-1"),
    }
    stubbed = StubbedAws(
        clients=AwsClients(
            rekognition=clients["rekognition"],
            ssm=clients["ssm"],
            sqs=clients["sqs"],
            lambda_=clients["lambda"],
            sfn=clients["sfn"],
        ),
        stubbers={name: Stubber(client) for name, client in clients.items()},
    )
    for name, client in clients.items():

        def record(model: Any, _service: str = name, **_: Any) -> None:
            stubbed.calls.append(f"{_service}.{model.name}")

        client.meta.events.register("before-parameter-build", record)
    for stubber in stubbed.stubbers.values():
        stubber.activate()
    yield stubbed
    for stubber in stubbed.stubbers.values():
        # Every scripted answer was asked for: no expected call went missing.
        stubber.assert_no_pending_responses()
        stubber.deactivate()


class FakeLambdaContext:
    function_name = "labelbatch-ModelReaperFunction-EXAMPLE"
    memory_limit_in_mb = 256
    invoked_function_arn = (
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:labelbatch-ModelReaperFunction-EXAMPLE"
    )
    aws_request_id = "0b8e0c6e-6c1e-4f43-9d7a-2f0c8d9e1a2b"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def emitted_metrics(stdout: str) -> dict[str, Any]:
    """The metric names and dimensions of the one EMF document Powertools printed."""
    documents: list[dict[str, Any]] = [json.loads(line) for line in stdout.splitlines() if '"_aws"' in line]
    assert len(documents) == 1
    return documents[0]


# ---------------------------------------------------------------------------- reaping


def test_reaps_a_running_model_started_by_a_run_that_is_gone(aws: StubbedAws) -> None:
    # Given a RUNNING model whose marker names a run, an empty queue, no run in progress, an enabled consumer
    aws.marker(RUN_ARN)
    aws.model("RUNNING")
    aws.backlog(visible=0, in_flight=0, delayed=0)
    aws.running_runs()
    aws.mapping("Enabled")
    aws.disable_mapping()
    aws.stop_model()
    aws.clear_marker()

    # When the reaper runs
    outcome = reap_abandoned_model(SETTINGS, aws.clients)

    # Then it disables the consumer, then stops the model, then clears the marker, in that order
    assert outcome == ReapOutcome(action="reaped", reason="abandoned-by-run")
    assert aws.calls == [
        READ_MARKER,
        DESCRIBE_MODEL,
        COUNT_BACKLOG,
        LIST_RUNS,
        GET_MAPPING,
        DISABLE_MAPPING,
        STOP_MODEL,
        CLEAR_MARKER,
    ]


@pytest.mark.parametrize("mapping_state", ["Disabled", "Disabling"])
def test_does_not_update_a_consumer_that_is_already_off(aws: StubbedAws, mapping_state: str) -> None:
    # Given an abandoned model whose consumer is already off (the run disabled it before dying)
    aws.marker(RUN_ARN)
    aws.model("RUNNING")
    aws.backlog()
    aws.running_runs()
    aws.mapping(mapping_state)
    aws.stop_model()
    aws.clear_marker()

    # When the reaper runs
    outcome = reap_abandoned_model(SETTINGS, aws.clients)

    # Then it stops the model without asking Lambda to change the mapping
    assert outcome.action == "reaped"
    assert aws.calls == [
        READ_MARKER,
        DESCRIBE_MODEL,
        COUNT_BACKLOG,
        LIST_RUNS,
        GET_MAPPING,
        STOP_MODEL,
        CLEAR_MARKER,
    ]


# ---------------------------------------------------------------------------- leaving the model alone


def test_leaves_alone_a_model_no_run_started(aws: StubbedAws) -> None:
    # Given the marker "none": whoever runs the model, it is not a run of this stack
    aws.marker("none")

    # When the reaper runs
    outcome = reap_abandoned_model(SETTINGS, aws.clients)

    # Then it reads the marker and nothing else
    assert outcome == ReapOutcome(action="none", reason="model-not-started-by-a-run")
    assert aws.calls == [READ_MARKER]


@pytest.mark.parametrize("status", ["STARTING", "STOPPING"])
def test_leaves_alone_a_model_on_its_way_up_or_down(aws: StubbedAws, status: str) -> None:
    # Given a marker naming a run, and a model starting (its run may have died: the reaper stops it once it is
    # RUNNING) or stopping
    aws.marker(RUN_ARN)
    aws.model(status)

    # When the reaper runs
    outcome = reap_abandoned_model(SETTINGS, aws.clients)

    # Then it stops there, keeping the marker
    assert outcome == ReapOutcome(action="none", reason="model-not-running")
    assert aws.calls == [READ_MARKER, DESCRIBE_MODEL]


@pytest.mark.parametrize("status", ["STOPPED", "FAILED", "TRAINING_COMPLETED"])
def test_clears_the_marker_of_a_dead_run_whose_model_is_at_rest(aws: StubbedAws, status: str) -> None:
    # Given a marker naming a run that is gone, and a model at rest (stopped by hand, or its start failed)
    aws.marker(RUN_ARN)
    aws.model(status)
    aws.running_runs()
    aws.clear_marker()

    # When the reaper runs
    outcome = reap_abandoned_model(SETTINGS, aws.clients)

    # Then it clears the marker without touching consumer or model: a model someone starts by hand later is
    # not taken for that run's and stopped
    assert outcome == ReapOutcome(action="none", reason="stale-marker-cleared")
    assert aws.calls == [READ_MARKER, DESCRIBE_MODEL, LIST_RUNS, CLEAR_MARKER]


def test_keeps_the_marker_of_a_run_about_to_start_the_model(aws: StubbedAws) -> None:
    # Given a marker and a STOPPED model, while a run is in progress (it writes the marker before the start)
    aws.marker(RUN_ARN)
    aws.model("STOPPED")
    aws.running_runs("hourly-run-2")

    # When the reaper runs
    outcome = reap_abandoned_model(SETTINGS, aws.clients)

    # Then it leaves the marker to that run
    assert outcome == ReapOutcome(action="none", reason="run-in-progress")
    assert aws.calls == [READ_MARKER, DESCRIBE_MODEL, LIST_RUNS]


@pytest.mark.parametrize(
    ("visible", "in_flight", "delayed"),
    [(1, 0, 0), (0, 1, 0), (0, 0, 1), (120, 10, 3)],
    ids=["visible", "in-flight", "delayed", "all"],
)
def test_leaves_alone_a_model_with_images_waiting(
    aws: StubbedAws, visible: int, in_flight: int, delayed: int
) -> None:
    # Given an abandoned-looking model but messages in the queue, in whichever of the three counts
    aws.marker(RUN_ARN)
    aws.model("RUNNING")
    aws.backlog(visible=visible, in_flight=in_flight, delayed=delayed)

    # When the reaper runs
    outcome = reap_abandoned_model(SETTINGS, aws.clients)

    # Then it leaves the model for the next run, which will use it
    assert outcome == ReapOutcome(action="none", reason="images-waiting")
    assert aws.calls == [READ_MARKER, DESCRIBE_MODEL, COUNT_BACKLOG]


def test_leaves_alone_a_model_while_a_run_is_in_progress(aws: StubbedAws) -> None:
    # Given a RUNNING model, an empty queue, and a run in progress (it owns the stop)
    aws.marker(RUN_ARN)
    aws.model("RUNNING")
    aws.backlog()
    aws.running_runs("hourly-run-2")

    # When the reaper runs
    outcome = reap_abandoned_model(SETTINGS, aws.clients)

    # Then it neither touches the consumer nor the model
    assert outcome == ReapOutcome(action="none", reason="run-in-progress")
    assert aws.calls == [READ_MARKER, DESCRIBE_MODEL, COUNT_BACKLOG, LIST_RUNS]


# ---------------------------------------------------------------------------- failures


@pytest.mark.parametrize("error_code", ["ResourceInUseException", "ResourceConflictException"])
def test_a_busy_consumer_fails_the_tick_before_the_model_is_stopped(aws: StubbedAws, error_code: str) -> None:
    # Given an abandoned model whose mapping is in the middle of another change
    aws.marker(RUN_ARN)
    aws.model("RUNNING")
    aws.backlog()
    aws.running_runs()
    aws.mapping("Enabled")
    aws.disable_mapping(error_code=error_code)

    # When the reaper runs, then it fails so that the next tick tries again
    with pytest.raises(ConsumerBusyError, match=MAPPING_ID):
        reap_abandoned_model(SETTINGS, aws.clients)

    # And it stopped neither the model nor cleared the marker: the consumer could still be calling the model
    assert aws.calls == [READ_MARKER, DESCRIBE_MODEL, COUNT_BACKLOG, LIST_RUNS, GET_MAPPING, DISABLE_MAPPING]


def test_a_failed_stop_keeps_the_marker_for_the_next_tick(aws: StubbedAws) -> None:
    # Given an abandoned model whose stop is refused
    aws.marker(RUN_ARN)
    aws.model("RUNNING")
    aws.backlog()
    aws.running_runs()
    aws.mapping("Enabled")
    aws.disable_mapping()
    aws.stop_model(error_code="ResourceInUseException")

    # When the reaper runs, then the error surfaces (ModelReaperErrorsAlarm)
    with pytest.raises(ClientError) as raised:
        reap_abandoned_model(SETTINGS, aws.clients)
    assert raised.value.response["Error"]["Code"] == "ResourceInUseException"

    # And the marker is not cleared: the model still belongs to the dead run
    assert aws.calls[-1] == STOP_MODEL
    assert CLEAR_MARKER not in aws.calls


def test_an_unknown_model_fails_loudly(aws: StubbedAws) -> None:
    # Given a marker naming a run, and a project that does not know the configured model
    aws.marker(RUN_ARN)
    aws.stubbers["rekognition"].add_response(
        "describe_project_versions",
        {"ProjectVersionDescriptions": []},
        {"ProjectArn": PROJECT_ARN, "VersionNames": [VERSION_NAME]},
    )

    # When the reaper runs, then it fails instead of reporting a model that is "not running"
    with pytest.raises(ModelNotFoundError, match="check the stack parameters"):
        reap_abandoned_model(SETTINGS, aws.clients)
    assert aws.calls == [READ_MARKER, DESCRIBE_MODEL]


# ---------------------------------------------------------------------------- handler


@pytest.fixture
def reaper_environment(monkeypatch: pytest.MonkeyPatch, aws: StubbedAws) -> Iterator[None]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(app, "aws_clients", lambda: aws.clients)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("reaper_environment")
def test_handler_reports_a_reap_and_emits_models_reaped(
    aws: StubbedAws, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an abandoned model
    aws.marker(RUN_ARN)
    aws.model("RUNNING")
    aws.backlog()
    aws.running_runs()
    aws.mapping("Enabled")
    aws.disable_mapping()
    aws.stop_model()
    aws.clear_marker()

    # When the scheduled event invokes the handler
    result = app.handler({"source": "aws.scheduler"}, FakeLambdaContext())

    # Then it returns the summary and emits ModelsReaped=1, the metric ModelReapedAlarm watches
    assert result == {"action": "reaped", "reason": "abandoned-by-run"}
    document = emitted_metrics(capsys.readouterr().out)
    assert document["ModelsReaped"] == [1.0]
    definitions = document["_aws"]["CloudWatchMetrics"][0]
    assert definitions["Metrics"] == [{"Name": "ModelsReaped", "Unit": "Count"}]
    assert definitions["Dimensions"] == [["service"]]


@pytest.mark.usefixtures("reaper_environment")
def test_handler_emits_nothing_when_it_leaves_the_model_alone(
    aws: StubbedAws, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a model no run started
    aws.marker("none")

    # When the handler runs
    with pytest.warns(UserWarning, match="No application metrics to publish"):
        result = app.handler({"source": "aws.scheduler"}, FakeLambdaContext())

    # Then the summary says why, and no ModelsReaped metric is emitted
    assert result == {"action": "none", "reason": "model-not-started-by-a-run"}
    assert "ModelsReaped" not in capsys.readouterr().out


# ---------------------------------------------------------------------------- settings


def test_settings_read_every_variable_and_derive_the_version_name() -> None:
    settings = Settings.from_env(ENVIRONMENT)

    assert settings == SETTINGS
    assert settings.version_name == VERSION_NAME


def test_settings_name_every_missing_variable() -> None:
    environment = {
        name: value
        for name, value in ENVIRONMENT.items()
        if name not in {"IMAGE_QUEUE_URL", "STATE_MACHINE_ARN"}
    }

    with pytest.raises(
        SettingsError, match="missing environment variables: IMAGE_QUEUE_URL, STATE_MACHINE_ARN"
    ):
        Settings.from_env(environment)


def test_settings_reject_a_project_arn_given_as_the_model_arn() -> None:
    with pytest.raises(SettingsError, match="not a Rekognition model ARN"):
        Settings.from_env({**ENVIRONMENT, "PROJECT_VERSION_ARN": PROJECT_ARN})
