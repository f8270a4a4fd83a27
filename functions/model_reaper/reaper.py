"""Deciding whether a model was abandoned by a batch run, and stopping it if so.

A batch run sets the model-start marker (an SSM parameter) just before it starts the model and resets it to
"none" just after it stops it. A marked RUNNING model with no run holding the run lock and no image waiting
would never be stopped: the reaper, holding the lock so that no run starts using the model meanwhile,
disables the consumer, stops the model and clears the marker. A dead run's marker on a model at rest is
cleared too, so that a model someone starts later is never taken for that run's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from botocore.exceptions import ClientError

from model_reaper.lock import NO_OWNER, LockApi, RunLock
from observability import logger

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

    from model_reaper.settings import Settings

# Images the model is needed for: visible and in flight. Delayed messages wait out a retry delay (the batch
# run's definition counts the same two).
WAITING_ATTRIBUTES: Final = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
# Model states that a run or the reaper may still have to act on; any other state costs nothing.
_MODEL_IN_MOTION: Final = frozenset({"STARTING", "RUNNING", "STOPPING"})
# Mapping states in which the consumer is off or on its way off: nothing to update.
_CONSUMER_OFF_STATES: Final = frozenset({"Disabled", "Disabling"})
# Lambda answers these while another change of the mapping is in flight.
_MAPPING_BUSY_CODES: Final = frozenset({"ResourceInUseException", "ResourceConflictException"})


# The Rekognition and SSM operations the reaper calls (there are no boto3 stubs for these services here).
class ModelApi(Protocol):
    def describe_project_versions(self, **request: Any) -> Mapping[str, Any]: ...
    def stop_project_version(self, **request: Any) -> Mapping[str, Any]: ...


class ParameterApi(Protocol):
    def get_parameter(self, **request: Any) -> Mapping[str, Any]: ...
    def put_parameter(self, **request: Any) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class AwsClients:
    rekognition: ModelApi
    ssm: ParameterApi
    sqs: SQSClient
    lambda_: LambdaClient
    sfn: SFNClient
    dynamodb: LockApi


@dataclass(frozen=True, slots=True)
class ReapOutcome:
    action: Literal["reaped", "none"]
    # Why, in a word an operator can search the logs for.
    reason: str


class ConsumerBusyError(RuntimeError):
    """The consumer mapping is in the middle of another change; the next scheduled tick tries again."""


class ModelNotFoundError(RuntimeError):
    """DescribeProjectVersions does not know the configured model: the configuration is wrong."""


def reap_abandoned_model(settings: Settings, clients: AwsClients, *, reaper_id: str) -> ReapOutcome:
    lock = RunLock(clients.dynamodb, settings.run_lock_table)
    holder = lock.holder()
    if lock.is_alive(holder, clients.sfn):
        return _leave_alone("run-in-progress", lockHolder=holder.owner)
    owner = f"reaper:{reaper_id}"
    if not lock.take(holder, as_owner=owner):
        return _leave_alone("run-in-progress", lockHolder="taken meanwhile")
    if holder.owner != NO_OWNER:
        # A run that died holding the lock (or a reaper whose hold expired) would make every later run skip.
        logger.warning("took over the run lock of a holder that is gone", extra={"lockHolder": holder.owner})
    try:
        return _reap_under_lock(settings, clients)
    finally:
        lock.release(owner)


def _reap_under_lock(settings: Settings, clients: AwsClients) -> ReapOutcome:
    marker = clients.ssm.get_parameter(Name=settings.marker_parameter_name)["Parameter"]["Value"]
    if marker == NO_OWNER:
        return _leave_alone("model-not-started-by-a-run", marker=marker)
    status = _model_status(clients.rekognition, settings)
    if status not in _MODEL_IN_MOTION:
        _clear_marker(clients.ssm, settings)
        logger.info("cleared a stale start marker", extra={"startedBy": marker, "modelStatus": status})
        return ReapOutcome(action="none", reason="stale-marker-cleared")
    if status != "RUNNING":
        # STARTING: a start that outlived its run is stopped once RUNNING; STOPPING: on its way to rest.
        return _leave_alone("model-not-running", marker=marker, modelStatus=status)
    queue = clients.sqs.get_queue_attributes(
        QueueUrl=settings.image_queue_url, AttributeNames=[*WAITING_ATTRIBUTES]
    )
    waiting = sum(int(queue["Attributes"].get(name, "0")) for name in WAITING_ATTRIBUTES)
    if waiting > 0:
        # The next run uses the model, and stops it, instead of starting it again.
        return _leave_alone("images-waiting", marker=marker, waiting=waiting)
    _disable_consumer(clients.lambda_, settings.event_source_mapping_id)
    clients.rekognition.stop_project_version(ProjectVersionArn=settings.project_version_arn)
    # Cleared only once the stop is accepted, as a run does: a failed stop leaves the marker to the next tick.
    _clear_marker(clients.ssm, settings)
    logger.warning(
        "stopped a model abandoned by a batch run",
        extra={"startedBy": marker, "projectVersionArn": settings.project_version_arn},
    )
    return ReapOutcome(action="reaped", reason="abandoned-by-run")


def _clear_marker(ssm: ParameterApi, settings: Settings) -> None:
    ssm.put_parameter(Name=settings.marker_parameter_name, Value=NO_OWNER, Type="String", Overwrite=True)


def _model_status(rekognition: ModelApi, settings: Settings) -> str:
    arn = settings.project_version_arn
    response = rekognition.describe_project_versions(
        ProjectArn=settings.project_arn, VersionNames=[settings.version_name]
    )
    for description in response.get("ProjectVersionDescriptions", []):
        if description.get("ProjectVersionArn") == arn:
            return str(description["Status"])
    raise ModelNotFoundError(f"project {settings.project_arn} has no model {arn}: check the stack parameters")


def _disable_consumer(lambda_: LambdaClient, mapping_id: str) -> None:
    try:
        if lambda_.get_event_source_mapping(UUID=mapping_id).get("State", "") not in _CONSUMER_OFF_STATES:
            lambda_.update_event_source_mapping(UUID=mapping_id, Enabled=False)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MAPPING_BUSY_CODES:
            raise ConsumerBusyError(
                f"event source mapping {mapping_id} is busy with another change; the next tick retries"
            ) from exc
        raise


def _leave_alone(reason: str, **details: object) -> ReapOutcome:
    logger.info("left the model alone", extra={"reason": reason, **details})
    return ReapOutcome(action="none", reason=reason)
