"""`status`: the stack at a glance, ending in one sentence on whether the model is billing now and why."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from labelbatch.ops.model import BILLING_STATUSES, ModelDescription, describe_model, model_arns
from labelbatch.ops.queues import QueueCounts, queue_counts
from labelbatch.ops.runs import RunRecord, latest_run
from labelbatch.ops.schedule import ScheduleState, batch_run_schedule
from labelbatch.ops.target import Stack
from labelbatch.ops.times import iso
from model_reaper.lock import NO_OWNER


class ModelState(ModelDescription):
    since: str | None
    """When it entered its current phase, as far as the start marker tells (None when unknown)."""
    startedByRun: str | None  # noqa: N815  (a TypedDict key: ruff does not see the TypedDict base)
    """The execution ARN of the run that started it and owns its stop, from the start marker."""


class ConsumerState(TypedDict):
    state: str
    maximumConcurrency: int | None


class MarkerState(TypedDict):
    value: str
    changedAt: str | None


class Spending(TypedDict):
    spending: bool
    usdPerHour: float
    reason: str


class StackStatus(TypedDict):
    stack: str
    at: str
    unitPriceUsdPerHour: float
    model: ModelState
    queue: QueueCounts
    deadLetters: int
    consumer: ConsumerState
    schedule: ScheduleState | None
    marker: MarkerState
    run: RunRecord | None
    spending: Spending


def stack_status(stack: Stack, *, unit_price: float, now: datetime) -> StackStatus:
    marker = start_marker(stack)
    model = describe_model(stack, model_arns(stack))
    owner = marker["value"] if marker["value"] != NO_OWNER else None
    billing = model["status"] in BILLING_STATUSES
    # The marker changes just before a run starts the model and just after it stops it (or the reaper does).
    since = marker["changedAt"] if (billing and owner) or (not billing and not owner) else None
    queue = queue_counts(stack)
    schedule = batch_run_schedule(stack, now)
    run = latest_run(stack, unit_price=unit_price, now=now)
    state = ModelState(**model, since=since, startedByRun=owner)
    return StackStatus(
        stack=stack.description,
        at=iso(now),
        unitPriceUsdPerHour=unit_price,
        model=state,
        queue=queue,
        deadLetters=queue_counts(stack, "DeadLetterQueueUrl")["total"],
        consumer=consumer_state(stack),
        schedule=schedule,
        marker=marker,
        run=run,
        spending=spending(state, queue, run, schedule, unit_price),
    )


def start_marker(stack: Stack) -> MarkerState:
    parameter = stack.client("ssm").get_parameter(Name=stack.outputs["ModelStartMarkerParameterName"])[
        "Parameter"
    ]
    # Version 1 is CloudFormation's "none": it says nothing about when the model last changed.
    changed = parameter.get("LastModifiedDate") if int(parameter.get("Version", 1)) > 1 else None
    return MarkerState(value=str(parameter["Value"]), changedAt=iso(changed) if changed else None)


def consumer_state(stack: Stack) -> ConsumerState:
    mapping = stack.client("lambda").get_event_source_mapping(UUID=stack.outputs["EventSourceMappingId"])
    return ConsumerState(
        state=str(mapping["State"]),
        maximumConcurrency=mapping.get("ScalingConfig", {}).get("MaximumConcurrency"),
    )


def spending(
    model: ModelState,
    queue: QueueCounts,
    run: RunRecord | None,
    schedule: ScheduleState | None,
    unit_price: float,
) -> Spending:
    """Whether the model bills now, and the sentence that says why."""
    status = model["status"]
    units = model["inferenceUnits"] or 1
    per_hour = round(units * unit_price, 2)
    rate = f"{units} inference unit{'s' if units != 1 else ''}, about {per_hour:.2f} USD an hour"
    run_active = run is not None and run["status"] == "RUNNING"
    owner = model["startedByRun"]
    if status not in BILLING_STATUSES:
        waiting = queue["total"]
        then = (
            f"; {waiting} message{'s wait' if waiting != 1 else ' waits'} for the next run"
            + (f" at {schedule['nextFireAt']}" if schedule and schedule["nextFireAt"] else "")
            if waiting
            else ""
        )
        return Spending(
            spending=False,
            usdPerHour=0.0,
            reason=f"No: the model is {status}, so only per-image Lambda, SQS and S3 costs accrue{then}.",
        )
    if status == "STOPPING":
        return Spending(
            spending=True, usdPerHour=per_hour, reason=f"Until it stops: the model is STOPPING ({rate})."
        )
    if run_active and run is not None:
        return Spending(
            spending=True,
            usdPerHour=per_hour,
            reason=(
                f"Yes: the model is {status} ({rate}) for run {run['name']}, which stops it when the "
                f"{queue['total']} waiting image{'s' if queue['total'] != 1 else ''} are done"
                if owner
                else f"Yes: the model is {status} ({rate}); run {run['name']} uses it and leaves it running, "
                "as it did not start it: `labelbatch stop` stops it"
            )
            + ".",
        )
    if owner:
        return Spending(
            spending=True,
            usdPerHour=per_hour,
            reason=(
                f"Yes: the model is {status} ({rate}), started by run {owner.rsplit(':', 1)[-1]}, which "
                "is no longer running: the model reaper stops it within 15 minutes once the queue is empty, "
                "or `labelbatch stop` stops it now."
            ),
        )
    return Spending(
        spending=True,
        usdPerHour=per_hour,
        reason=(
            f"Yes: the model is {status} ({rate}) and no labelbatch run started it, so labelbatch leaves it "
            "running: `labelbatch stop` stops it."
        ),
    )
