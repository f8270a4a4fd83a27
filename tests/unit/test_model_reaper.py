"""The model reaper: holding the run lock, it stops a model only when a run of this stack started it and no
image is waiting; while a live run holds the lock it touches nothing, and it gives back the lock of a run
that died holding it. Real botocore clients with Stubber: every call is checked against the service model,
and the exact sequence of calls across services is recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from model_reaper import app
from model_reaper.lock import Holder, RunLock
from model_reaper.reaper import (
    AwsClients,
    ConsumerBusyError,
    ModelNotFoundError,
    ReapOutcome,
    reap_abandoned_model,
)
from model_reaper.settings import Settings, SettingsError, get_settings

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
LOCK_TABLE = "labelbatch-RunLockTable-EXAMPLE"
RUN_ARN = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:labelbatch-batch-run:hourly-run-1"
REQUEST_ID = "0b8e0c6e-6c1e-4f43-9d7a-2f0c8d9e1a2b"
REAPER = f"reaper:{REQUEST_ID}"
EARLIER_REAPER = "reaper:5d1c7f0e-2a3b-4c5d-8e9f-0a1b2c3d4e5f"
# Far from any clock the tests run on: a hold that has long expired, and one that has not.
LONG_AGO = "2020-01-01T00:00:00.000Z"
FAR_AHEAD = "2999-01-01T00:00:00.000Z"

ENVIRONMENT = {
    "PROJECT_ARN": PROJECT_ARN,
    "PROJECT_VERSION_ARN": PROJECT_VERSION_ARN,
    "IMAGE_QUEUE_URL": QUEUE_URL,
    "EVENT_SOURCE_MAPPING_ID": MAPPING_ID,
    "MODEL_START_MARKER_PARAMETER": MARKER_PARAMETER,
    "RUN_LOCK_TABLE": LOCK_TABLE,
}
SETTINGS = Settings(
    project_arn=PROJECT_ARN,
    project_version_arn=PROJECT_VERSION_ARN,
    image_queue_url=QUEUE_URL,
    event_source_mapping_id=MAPPING_ID,
    marker_parameter_name=MARKER_PARAMETER,
    run_lock_table=LOCK_TABLE,
)

# The calls of a reap, in order. Taking and releasing the lock are both UpdateItem: the Stubber's expected
# parameters, answered in order, tell which is which.
READ_LOCK = "dynamodb.GetItem"
CHECK_HOLDER = "sfn.DescribeExecution"
TAKE_LOCK = "dynamodb.UpdateItem"
READ_MARKER = "ssm.GetParameter"
DESCRIBE_MODEL = "rekognition.DescribeProjectVersions"
COUNT_BACKLOG = "sqs.GetQueueAttributes"
GET_MAPPING = "lambda.GetEventSourceMapping"
DISABLE_MAPPING = "lambda.UpdateEventSourceMapping"
STOP_MODEL = "rekognition.StopProjectVersion"
CLEAR_MARKER = "ssm.PutParameter"
RELEASE_LOCK = "dynamodb.UpdateItem"

LOCK_KEY = {"pk": {"S": "batch-run"}}
REAP = [GET_MAPPING, DISABLE_MAPPING, STOP_MODEL, CLEAR_MARKER]


@dataclass
class StubbedAws:
    """Real clients whose answers are scripted; `calls` records every request in the order it was made."""

    clients: AwsClients
    stubbers: dict[str, Stubber]
    calls: list[str] = field(default_factory=list)

    # ------------------------------------------------------------ the run lock

    def lock(self, owner: str | None, *, expires_at: str | None = None) -> None:
        """The lock item as the reaper reads it; None: no item yet (no run ever took it)."""
        item: dict[str, Any] = {}
        if owner is not None:
            item = {"pk": {"S": "batch-run"}, "owner": {"S": owner}}
            if expires_at is not None:
                item["expiresAt"] = {"S": expires_at}
        self.stubbers["dynamodb"].add_response(
            "get_item",
            {"Item": item} if item else {},
            {"TableName": LOCK_TABLE, "Key": LOCK_KEY, "ConsistentRead": True},
        )

    def execution(self, status: str | None = None, *, error_code: str | None = None) -> None:
        expected = {"executionArn": RUN_ARN}
        if error_code is not None:
            self.stubbers["sfn"].add_client_error("describe_execution", error_code, "No.", 400, expected)
            return
        self.stubbers["sfn"].add_response(
            "describe_execution",
            {
                "executionArn": RUN_ARN,
                "stateMachineArn": STATE_MACHINE_ARN,
                "status": status,
                "startDate": datetime(2025, 11, 21, 9, 0, tzinfo=UTC),
            },
            expected,
        )

    def take_lock(self, *, seen: str, error_code: str | None = None) -> None:
        """The conditional write that takes the lock from `seen`; its expiry depends on the real clock."""
        expected = {
            "TableName": LOCK_TABLE,
            "Key": LOCK_KEY,
            "UpdateExpression": "SET #owner = :me, expiresAt = :expires",
            "ConditionExpression": "attribute_not_exists(#owner) OR #owner = :seen",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":me": {"S": REAPER}, ":seen": {"S": seen}, ":expires": {"S": ANY}},
        }
        self._update_item(expected, error_code)

    def release_lock(self, *, error_code: str | None = None) -> None:
        expected = {
            "TableName": LOCK_TABLE,
            "Key": LOCK_KEY,
            "UpdateExpression": "SET #owner = :none REMOVE expiresAt",
            "ConditionExpression": "#owner = :me",
            "ExpressionAttributeNames": {"#owner": "owner"},
            "ExpressionAttributeValues": {":me": {"S": REAPER}, ":none": {"S": "none"}},
        }
        self._update_item(expected, error_code)

    def _update_item(self, expected: dict[str, Any], error_code: str | None) -> None:
        if error_code is None:
            self.stubbers["dynamodb"].add_response("update_item", {}, expected)
        else:
            self.stubbers["dynamodb"].add_client_error(
                "update_item", error_code, "The conditional request failed", 400, expected
            )

    def free_lock(self) -> None:
        """Nobody holds the lock: the reaper reads it and takes it."""
        self.lock("none")
        self.take_lock(seen="none")

    # ------------------------------------------------------------ the model, the queue, the consumer

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

    def backlog(self, visible: int = 0, in_flight: int = 0) -> None:
        """Only the images the model is needed for are asked about, visible and in flight: messages waiting
        out a retry delay (ApproximateNumberOfMessagesDelayed) are a later run's and never keep the model
        running."""
        self.stubbers["sqs"].add_response(
            "get_queue_attributes",
            {
                "Attributes": {
                    "ApproximateNumberOfMessages": str(visible),
                    "ApproximateNumberOfMessagesNotVisible": str(in_flight),
                }
            },
            {
                "QueueUrl": QUEUE_URL,
                "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            },
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

    def abandoned_model(self) -> None:
        """A RUNNING model whose marker names a run, an empty queue, an enabled consumer: all of it reaped."""
        self.marker(RUN_ARN)
        self.model("RUNNING")
        self.backlog()
        self.mapping("Enabled")
        self.disable_mapping()
        self.stop_model()
        self.clear_marker()


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
        "dynamodb": boto3.client("dynamodb", region_name="us-east-1"),
    }
    stubbed = StubbedAws(
        clients=AwsClients(
            rekognition=clients["rekognition"],
            ssm=clients["ssm"],
            sqs=clients["sqs"],
            lambda_=clients["lambda"],
            sfn=clients["sfn"],
            dynamodb=clients["dynamodb"],
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
    aws_request_id = REQUEST_ID

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def emitted_metrics(stdout: str) -> dict[str, Any]:
    """The metric names and dimensions of the one EMF document Powertools printed."""
    documents: list[dict[str, Any]] = [json.loads(line) for line in stdout.splitlines() if '"_aws"' in line]
    assert len(documents) == 1
    return documents[0]


def reap(aws: StubbedAws) -> ReapOutcome:
    return reap_abandoned_model(SETTINGS, aws.clients, reaper_id=REQUEST_ID)


# ---------------------------------------------------------------------------- reaping


def test_reaps_a_running_model_started_by_a_run_that_is_gone(aws: StubbedAws) -> None:
    # Given a free lock, a RUNNING model whose marker names a run, an empty queue, an enabled consumer
    aws.free_lock()
    aws.abandoned_model()
    aws.release_lock()

    # When the reaper runs
    outcome = reap(aws)

    # Then, holding the lock, it disables the consumer, then stops the model, then clears the marker, in that
    # order, and gives the lock back
    assert outcome == ReapOutcome(action="reaped", reason="abandoned-by-run")
    assert aws.calls == [
        READ_LOCK,
        TAKE_LOCK,
        READ_MARKER,
        DESCRIBE_MODEL,
        COUNT_BACKLOG,
        GET_MAPPING,
        DISABLE_MAPPING,
        STOP_MODEL,
        CLEAR_MARKER,
        RELEASE_LOCK,
    ]


@pytest.mark.parametrize("mapping_state", ["Disabled", "Disabling"])
def test_does_not_update_a_consumer_that_is_already_off(aws: StubbedAws, mapping_state: str) -> None:
    # Given an abandoned model whose consumer is already off (the run disabled it before dying)
    aws.free_lock()
    aws.marker(RUN_ARN)
    aws.model("RUNNING")
    aws.backlog()
    aws.mapping(mapping_state)
    aws.stop_model()
    aws.clear_marker()
    aws.release_lock()

    # When the reaper runs
    outcome = reap(aws)

    # Then it stops the model without asking Lambda to change the mapping
    assert outcome.action == "reaped"
    assert aws.calls == [
        READ_LOCK,
        TAKE_LOCK,
        READ_MARKER,
        DESCRIBE_MODEL,
        COUNT_BACKLOG,
        GET_MAPPING,
        STOP_MODEL,
        CLEAR_MARKER,
        RELEASE_LOCK,
    ]


# ---------------------------------------------------------------------------- leaving the model alone


def test_leaves_alone_a_model_no_run_started(aws: StubbedAws) -> None:
    # Given the marker "none": whoever runs the model, it is not a run of this stack
    aws.free_lock()
    aws.marker("none")
    aws.release_lock()

    # When the reaper runs
    outcome = reap(aws)

    # Then it reads the marker and nothing else
    assert outcome == ReapOutcome(action="none", reason="model-not-started-by-a-run")
    assert aws.calls == [READ_LOCK, TAKE_LOCK, READ_MARKER, RELEASE_LOCK]


@pytest.mark.parametrize("status", ["STARTING", "STOPPING"])
def test_leaves_alone_a_model_on_its_way_up_or_down(aws: StubbedAws, status: str) -> None:
    # Given a marker naming a run, and a model starting (its run may have died: the reaper stops it once it is
    # RUNNING) or stopping
    aws.free_lock()
    aws.marker(RUN_ARN)
    aws.model(status)
    aws.release_lock()

    # When the reaper runs
    outcome = reap(aws)

    # Then it stops there, keeping the marker
    assert outcome == ReapOutcome(action="none", reason="model-not-running")
    assert aws.calls == [READ_LOCK, TAKE_LOCK, READ_MARKER, DESCRIBE_MODEL, RELEASE_LOCK]


@pytest.mark.parametrize("status", ["STOPPED", "FAILED", "TRAINING_COMPLETED"])
def test_clears_the_marker_of_a_dead_run_whose_model_is_at_rest(aws: StubbedAws, status: str) -> None:
    # Given no run holding the lock, a marker naming a run, and a model at rest (stopped by hand, or its start
    # failed)
    aws.free_lock()
    aws.marker(RUN_ARN)
    aws.model(status)
    aws.clear_marker()
    aws.release_lock()

    # When the reaper runs
    outcome = reap(aws)

    # Then it clears the marker without touching consumer or model: a model someone starts by hand later is
    # not taken for that run's and stopped
    assert outcome == ReapOutcome(action="none", reason="stale-marker-cleared")
    assert aws.calls == [READ_LOCK, TAKE_LOCK, READ_MARKER, DESCRIBE_MODEL, CLEAR_MARKER, RELEASE_LOCK]


@pytest.mark.parametrize(
    ("visible", "in_flight"), [(1, 0), (0, 1), (120, 10)], ids=["visible", "in-flight", "both"]
)
def test_leaves_alone_a_model_with_images_waiting(aws: StubbedAws, visible: int, in_flight: int) -> None:
    # Given an abandoned-looking model but messages in the queue, visible or in flight
    aws.free_lock()
    aws.marker(RUN_ARN)
    aws.model("RUNNING")
    aws.backlog(visible=visible, in_flight=in_flight)
    aws.release_lock()

    # When the reaper runs
    outcome = reap(aws)

    # Then it leaves the model for the next run, which will use it
    assert outcome == ReapOutcome(action="none", reason="images-waiting")
    assert aws.calls == [READ_LOCK, TAKE_LOCK, READ_MARKER, DESCRIBE_MODEL, COUNT_BACKLOG, RELEASE_LOCK]


# ---------------------------------------------------------------------------- the run lock


def test_leaves_everything_alone_while_a_live_run_holds_the_lock(aws: StubbedAws) -> None:
    # Given a run that holds the lock and is RUNNING (it may be about to start the model, or using it)
    aws.lock(RUN_ARN)
    aws.execution("RUNNING")

    # When the reaper runs
    outcome = reap(aws)

    # Then it reads neither marker nor model, and leaves the lock to the run
    assert outcome == ReapOutcome(action="none", reason="run-in-progress")
    assert aws.calls == [READ_LOCK, CHECK_HOLDER]


@pytest.mark.parametrize(
    ("status", "error_code"),
    [
        ("SUCCEEDED", None),
        ("FAILED", None),
        ("TIMED_OUT", None),
        ("ABORTED", None),
        (None, "ExecutionDoesNotExist"),
    ],
    ids=["succeeded", "failed", "timed-out", "aborted", "gone"],
)
def test_takes_over_the_lock_of_a_run_that_died_holding_it(
    aws: StubbedAws, status: str | None, error_code: str | None, log_records
) -> None:
    # Given a lock still naming a run that ended (stopped from outside, or failed where its own switch-off
    # could not run), and the model it left RUNNING
    aws.lock(RUN_ARN)
    aws.execution(status, error_code=error_code)
    aws.take_lock(seen=RUN_ARN)
    aws.abandoned_model()
    aws.release_lock()

    # When the reaper runs
    outcome = reap(aws)

    # Then it takes the lock from that run, reaps the model, and gives the lock back free, saying so in the
    # log
    assert outcome == ReapOutcome(action="reaped", reason="abandoned-by-run")
    assert aws.calls == [
        READ_LOCK,
        CHECK_HOLDER,
        TAKE_LOCK,
        READ_MARKER,
        DESCRIBE_MODEL,
        COUNT_BACKLOG,
        *REAP,
        RELEASE_LOCK,
    ]
    released = [
        (line["level"], line["lockHolder"])
        for line in log_records()
        if line["message"] == "took over the run lock of a holder that is gone"
    ]
    assert released == [("WARNING", RUN_ARN)]


def test_an_unanswered_question_about_the_holder_takes_nothing(aws: StubbedAws) -> None:
    # Given a lock naming a run, and Step Functions refusing to describe it
    aws.lock(RUN_ARN)
    aws.execution(error_code="AccessDeniedException")

    # When the reaper runs, then the error surfaces (ModelReaperErrorsAlarm) and the lock is left as it was
    with pytest.raises(ClientError) as raised:
        reap(aws)
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert aws.calls == [READ_LOCK, CHECK_HOLDER]


def test_leaves_everything_alone_while_another_reaper_holds_the_lock(aws: StubbedAws) -> None:
    # Given a lock held by another reaper invocation whose hold has not expired
    aws.lock(EARLIER_REAPER, expires_at=FAR_AHEAD)

    # When the reaper runs
    outcome = reap(aws)

    # Then it does nothing: a reaper is alive until its hold expires, no execution to ask about
    assert outcome == ReapOutcome(action="none", reason="run-in-progress")
    assert aws.calls == [READ_LOCK]


@pytest.mark.parametrize("expires_at", [LONG_AGO, None], ids=["expired", "no-expiry"])
def test_takes_over_an_expired_reaper_hold(aws: StubbedAws, expires_at: str | None) -> None:
    # Given a lock held by a reaper invocation whose hold expired (it cannot be alive past its timeout)
    aws.lock(EARLIER_REAPER, expires_at=expires_at)
    aws.take_lock(seen=EARLIER_REAPER)
    aws.marker("none")
    aws.release_lock()

    # When the reaper runs
    outcome = reap(aws)

    # Then it takes the lock from it and decides as usual
    assert outcome == ReapOutcome(action="none", reason="model-not-started-by-a-run")
    assert aws.calls == [READ_LOCK, TAKE_LOCK, READ_MARKER, RELEASE_LOCK]


def test_takes_a_lock_no_run_has_ever_written(aws: StubbedAws) -> None:
    # Given a lock table without the item (before the first run)
    aws.lock(None)
    aws.take_lock(seen="none")
    aws.marker("none")
    aws.release_lock()

    # When the reaper runs
    outcome = reap(aws)

    # Then it creates the item as its own hold, decides, and gives it back
    assert outcome == ReapOutcome(action="none", reason="model-not-started-by-a-run")
    assert aws.calls == [READ_LOCK, TAKE_LOCK, READ_MARKER, RELEASE_LOCK]


def test_a_lock_taken_meanwhile_leaves_everything_alone(aws: StubbedAws) -> None:
    # Given a free lock that a run takes between the reaper's read and its write
    aws.lock("none")
    aws.take_lock(seen="none", error_code="ConditionalCheckFailedException")

    # When the reaper runs
    outcome = reap(aws)

    # Then it touches nothing, not even the lock it does not hold
    assert outcome == ReapOutcome(action="none", reason="run-in-progress")
    assert aws.calls == [READ_LOCK, TAKE_LOCK]


def test_a_lock_no_longer_the_reapers_is_not_released(aws: StubbedAws) -> None:
    # Given a reap whose lock someone else took at the end (the conditional release finds another owner)
    aws.free_lock()
    aws.marker("none")
    aws.release_lock(error_code="ConditionalCheckFailedException")

    # When the reaper runs / Then its outcome stands, and the other owner keeps the lock
    assert reap(aws) == ReapOutcome(action="none", reason="model-not-started-by-a-run")
    assert aws.calls == [READ_LOCK, TAKE_LOCK, READ_MARKER, RELEASE_LOCK]


def test_a_hold_expires_two_minutes_after_it_is_taken() -> None:
    # Given a lock on a clock reading 10:00 at UTC+1
    requests: list[dict[str, Any]] = []

    class Table:
        def update_item(self, **request: Any) -> dict[str, Any]:
            requests.append(request)
            return {}

    now = datetime(2025, 11, 21, 10, 0, 0, 250000, tzinfo=timezone(timedelta(hours=1)))
    lock = RunLock(Table(), LOCK_TABLE, now=lambda: now)

    # When the reaper takes it from a dead run
    assert lock.take(Holder(owner=RUN_ARN, expires_at=None), as_owner=REAPER) is True

    # Then the hold expires two minutes later, in UTC, as Step Functions writes its times
    assert requests[0]["ExpressionAttributeValues"] == {
        ":me": {"S": REAPER},
        ":seen": {"S": RUN_ARN},
        ":expires": {"S": "2025-11-21T09:02:00.250Z"},
    }


@pytest.mark.parametrize(
    ("expires_at", "alive"),
    [
        ("2025-11-21T09:00:00.001Z", True),
        ("2025-11-21T09:00:00.000Z", False),
        ("2025-11-21T08:59:59.999Z", False),
    ],
)
def test_a_reaper_hold_is_alive_until_the_moment_it_expires(expires_at: str, alive: bool) -> None:
    # Given a clock reading exactly 09:00:00.000 UTC, and a reaper's hold / Then it is alive only before it
    # expires
    lock = RunLock(None, LOCK_TABLE, now=lambda: datetime(2025, 11, 21, 9, 0, tzinfo=UTC))
    assert lock.is_alive(Holder(owner=EARLIER_REAPER, expires_at=expires_at), None) is alive


def test_a_free_lock_holder_is_not_alive() -> None:
    # "none" is nobody: no execution to ask about (a None client would fail if asked)
    lock = RunLock(None, LOCK_TABLE)
    assert lock.is_alive(Holder(owner="none", expires_at=None), None) is False


# ---------------------------------------------------------------------------- failures


@pytest.mark.parametrize("error_code", ["ResourceInUseException", "ResourceConflictException"])
def test_a_busy_consumer_fails_the_tick_before_the_model_is_stopped(aws: StubbedAws, error_code: str) -> None:
    # Given an abandoned model whose mapping is in the middle of another change
    aws.free_lock()
    aws.marker(RUN_ARN)
    aws.model("RUNNING")
    aws.backlog()
    aws.mapping("Enabled")
    aws.disable_mapping(error_code=error_code)
    aws.release_lock()

    # When the reaper runs, then it fails so that the next tick tries again
    with pytest.raises(ConsumerBusyError, match=MAPPING_ID):
        reap(aws)

    # And it stopped neither the model nor cleared the marker (the consumer could still be calling the model),
    # but gave the lock back
    assert aws.calls == [
        READ_LOCK,
        TAKE_LOCK,
        READ_MARKER,
        DESCRIBE_MODEL,
        COUNT_BACKLOG,
        GET_MAPPING,
        DISABLE_MAPPING,
        RELEASE_LOCK,
    ]


def test_a_failed_stop_keeps_the_marker_for_the_next_tick(aws: StubbedAws) -> None:
    # Given an abandoned model whose stop is refused
    aws.free_lock()
    aws.marker(RUN_ARN)
    aws.model("RUNNING")
    aws.backlog()
    aws.mapping("Enabled")
    aws.disable_mapping()
    aws.stop_model(error_code="ResourceInUseException")
    aws.release_lock()

    # When the reaper runs, then the error surfaces (ModelReaperErrorsAlarm)
    with pytest.raises(ClientError) as raised:
        reap(aws)
    assert raised.value.response["Error"]["Code"] == "ResourceInUseException"

    # And the marker is not cleared (the model still belongs to the dead run); the lock is given back
    assert aws.calls[-2:] == [STOP_MODEL, RELEASE_LOCK]
    assert CLEAR_MARKER not in aws.calls


def test_an_unknown_model_fails_loudly(aws: StubbedAws) -> None:
    # Given a marker naming a run, and a project that does not know the configured model
    aws.free_lock()
    aws.marker(RUN_ARN)
    aws.stubbers["rekognition"].add_response(
        "describe_project_versions",
        {"ProjectVersionDescriptions": []},
        {"ProjectArn": PROJECT_ARN, "VersionNames": [VERSION_NAME]},
    )
    aws.release_lock()

    # When the reaper runs, then it fails instead of reporting a model that is "not running"
    with pytest.raises(ModelNotFoundError, match="check the stack parameters"):
        reap(aws)
    assert aws.calls == [READ_LOCK, TAKE_LOCK, READ_MARKER, DESCRIBE_MODEL, RELEASE_LOCK]


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
    # Given an abandoned model (the lock is taken and given back as reaper:<the invocation's request ID>)
    aws.free_lock()
    aws.abandoned_model()
    aws.release_lock()

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
    # Given a live run holding the lock
    aws.lock(RUN_ARN)
    aws.execution("RUNNING")

    # When the handler runs
    with pytest.warns(UserWarning, match="No application metrics to publish"):
        result = app.handler({"source": "aws.scheduler"}, FakeLambdaContext())

    # Then the summary says why, and no ModelsReaped metric is emitted
    assert result == {"action": "none", "reason": "run-in-progress"}
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
        if name not in {"IMAGE_QUEUE_URL", "RUN_LOCK_TABLE"}
    }

    with pytest.raises(
        SettingsError, match=r"^missing environment variables: IMAGE_QUEUE_URL, RUN_LOCK_TABLE$"
    ):
        Settings.from_env(environment)


def test_settings_reject_a_project_arn_given_as_the_model_arn() -> None:
    with pytest.raises(SettingsError, match="not a Rekognition model ARN"):
        Settings.from_env({**ENVIRONMENT, "PROJECT_VERSION_ARN": PROJECT_ARN})
