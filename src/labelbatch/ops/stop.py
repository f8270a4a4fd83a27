"""`stop`: stop spending now: disable the consumer, then stop the model, whoever started it.

The consumer goes first, so that no invocation calls a model on its way down. A run in progress notices the
stopped model and fails (ModelStoppedDuringRun) through its switch-off; the schedule is left as deployed, so
the next scheduled run starts the model again if images wait (pause it with ScheduleState=DISABLED).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TypedDict

from botocore.exceptions import ClientError

from labelbatch.ops.errors import OperationFailedError
from labelbatch.ops.model import BILLING_STATUSES, describe_model, model_arns
from labelbatch.ops.runs import RunRecord, latest_run
from labelbatch.ops.schedule import ScheduleState, batch_run_schedule
from labelbatch.ops.status import consumer_state
from labelbatch.ops.target import Stack

# Lambda answers these while another change of the mapping is in flight.
_MAPPING_BUSY = frozenset({"ResourceInUseException", "ResourceConflictException"})
_CONSUMER_OFF = frozenset({"Disabled", "Disabling"})
_WAIT_SECONDS = 1.0
_WAIT_ATTEMPTS = 60
_STOPPABLE = frozenset({"STARTING", "RUNNING"})


class Change(TypedDict):
    before: str
    after: str
    action: str
    """What stop did, as a sentence fragment: "disabled", "already Disabled", ..."""


class StopPlan(TypedDict):
    consumer: str
    model: str
    inferenceUnits: int | None
    runInProgress: str | None


class StopReport(TypedDict):
    consumer: Change
    model: Change
    runInProgress: str | None
    """The name of the run that was in progress: it fails with ModelStoppedDuringRun and switches off."""
    schedule: ScheduleState | None


def stop_plan(stack: Stack, *, now: datetime) -> StopPlan:
    """What `stop` would change, for the confirmation question."""
    model = describe_model(stack, model_arns(stack))
    run = latest_run(stack, unit_price=0.0, now=now)
    return StopPlan(
        consumer=consumer_state(stack)["state"],
        model=model["status"],
        inferenceUnits=model["inferenceUnits"],
        runInProgress=_running(run),
    )


def stop_spending(stack: Stack, *, now: datetime, sleep: Callable[[float], None] = time.sleep) -> StopReport:
    # Read first: a run that sees the model stop ends within a poll interval.
    run_in_progress = _running(latest_run(stack, unit_price=0.0, now=now))
    consumer = _disable_consumer(stack, sleep)
    model = _stop_model(stack)
    return StopReport(
        consumer=consumer,
        model=model,
        runInProgress=run_in_progress,
        schedule=batch_run_schedule(stack, now),
    )


def _running(run: RunRecord | None) -> str | None:
    return run["name"] if run is not None and run["status"] == "RUNNING" else None


def _disable_consumer(stack: Stack, sleep: Callable[[float], None]) -> Change:
    lambda_ = stack.client("lambda")
    uuid = stack.outputs["EventSourceMappingId"]
    before = consumer_state(stack)["state"]
    if before in _CONSUMER_OFF:
        action = f"already {before}"
    else:
        action = "disabled"
        for _ in range(_WAIT_ATTEMPTS):
            try:
                lambda_.update_event_source_mapping(UUID=uuid, Enabled=False)
                break
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in _MAPPING_BUSY:
                    raise
                sleep(_WAIT_SECONDS)
        else:
            raise OperationFailedError(
                f"The consumer mapping {uuid} stayed busy with another change for {_WAIT_ATTEMPTS} s and "
                "was not disabled: run `labelbatch stop` again."
            )
    after = consumer_state(stack)["state"]
    for _ in range(_WAIT_ATTEMPTS):
        if after == "Disabled":
            break
        sleep(_WAIT_SECONDS)
        after = consumer_state(stack)["state"]
    return Change(before=before, after=after, action=action)


def _stop_model(stack: Stack) -> Change:
    arns = model_arns(stack)
    before = describe_model(stack, arns)["status"]
    if before not in _STOPPABLE:
        action = (
            f"already {before}" if before not in BILLING_STATUSES else f"left {before}: it is on its way down"
        )
        return Change(before=before, after=before, action=action)
    try:
        stack.client("rekognition").stop_project_version(ProjectVersionArn=arns.project_version_arn)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise OperationFailedError(
            f"Rekognition did not stop the model ({error.get('Code')}: {error.get('Message')}); the "
            "consumer is disabled. Run `labelbatch stop` again, or stop it in the Rekognition console."
        ) from exc
    return Change(before=before, after=describe_model(stack, arns)["status"], action="stop requested")
