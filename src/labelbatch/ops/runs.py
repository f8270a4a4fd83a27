"""Batch runs (executions of the state machine): the recent ones, one in detail, starting one, watching one.

A run's summary (its output, see the README) says what it did; a run without one (failed, aborted, still
running) is read from its history, by the SDK calls it made rather than by state names, which change with
the definition. Only the timeline groups states, through steps.STEP_OF_STATE.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypedDict

from labelbatch.ops.errors import OperationFailedError
from labelbatch.ops.model import ModelArns, describe_model, model_arns, model_cost_usd
from labelbatch.ops.queues import queue_counts
from labelbatch.ops.steps import STEP_OF_STATE, STEP_TITLES
from labelbatch.ops.target import Stack
from labelbatch.ops.times import iso, parse_iso, seconds_between

_REKOGNITION = "aws-sdk:rekognition"
# Tells runs started by `labelbatch run` from those the schedule started.
RUN_NAME_PREFIX = "labelbatch-run"


class RunRecord(TypedDict):
    name: str
    arn: str
    status: str
    """RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED."""
    startedAt: str
    stoppedAt: str | None
    durationSeconds: float
    """Until now for a run still RUNNING."""
    outcome: str | None
    """The summary's outcome: processed, nothing-to-do or skipped-overlap; None without a summary."""
    error: str | None
    cause: str | None
    backlogAtStart: int | None
    modelStartedByRun: bool | None
    modelStoppedByRun: bool | None
    modelRunningSince: str | None
    inferenceUnits: int | None
    modelSeconds: float | None
    """How long the model ran during this run (from the summary, else from the run's own calls)."""
    modelCostUsd: float | None


class RunList(TypedDict):
    stateMachineArn: str
    unitPriceUsdPerHour: float
    runs: list[RunRecord]


class StateVisit(TypedDict):
    name: str
    entered: int
    firstEnteredAt: str


class TimelineStep(TypedDict):
    step: int | None
    """1-4 as in the README; None for states the step table does not know (a newer definition)."""
    title: str
    startedAt: str
    endedAt: str
    states: list[StateVisit]


class RunFailure(TypedDict):
    at: str
    state: str | None
    error: str
    cause: str | None


class RunDetail(TypedDict):
    run: RunRecord
    unitPriceUsdPerHour: float
    summary: dict[str, Any] | None
    timeline: list[TimelineStep]
    failures: list[RunFailure]
    """Errors met on the way, caught ones included (a retried throttle, the fault before the switch-off)."""


class StartedRun(TypedDict):
    name: str
    arn: str
    startedAt: str


class RunProgress(TypedDict):
    name: str
    arn: str
    status: str
    modelStatus: str
    imagesLeft: int
    """Messages still in the image queue: visible, in flight and delayed for a retry."""
    resultsWritten: int
    """Result documents written since the run started."""
    elapsedSeconds: float
    outcome: str | None
    error: str | None


def list_runs(stack: Stack, *, limit: int, unit_price: float, now: datetime) -> RunList:
    sfn = stack.client("stepfunctions")
    state_machine_arn = stack.outputs["StateMachineArn"]
    listed: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=state_machine_arn, PaginationConfig={"MaxItems": limit, "PageSize": min(limit, 100)}
    ):
        listed.extend(page["executions"])
    listed.sort(key=lambda execution: execution["startDate"], reverse=True)
    units = _current_units(stack)
    runs = [
        run_record(
            stack, sfn.describe_execution(executionArn=execution["executionArn"]), units, unit_price, now
        )
        for execution in listed[:limit]
    ]
    return RunList(stateMachineArn=state_machine_arn, unitPriceUsdPerHour=unit_price, runs=runs)


def latest_run(stack: Stack, *, unit_price: float, now: datetime) -> RunRecord | None:
    """The run in progress, else the last one; None before the first run."""
    runs = list_runs(stack, limit=1, unit_price=unit_price, now=now)["runs"]
    return runs[0] if runs else None


def execution_arn(stack: Stack, name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    state_machine_arn = stack.outputs["StateMachineArn"]
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{name_or_arn}"


def describe_run(stack: Stack, name_or_arn: str, *, unit_price: float, now: datetime) -> RunDetail:
    sfn = stack.client("stepfunctions")
    arn = execution_arn(stack, name_or_arn)
    try:
        description = sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist as exc:
        raise OperationFailedError(
            f"There is no run {name_or_arn!r} of this stack's state machine: `labelbatch runs` lists the "
            "recent ones."
        ) from exc
    events = _history(sfn, arn)
    record = run_record(stack, description, _current_units(stack), unit_price, now, events)
    return RunDetail(
        run=record,
        unitPriceUsdPerHour=unit_price,
        summary=_summary(description),
        timeline=timeline(events),
        failures=_failures(events),
    )


def start_run(stack: Stack, now: datetime) -> StartedRun:
    """Start a batch run now, exactly as the schedule does (input "{}"), under a unique name."""
    name = f"{RUN_NAME_PREFIX}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    response = stack.client("stepfunctions").start_execution(
        stateMachineArn=stack.outputs["StateMachineArn"], name=name, input="{}"
    )
    return StartedRun(name=name, arn=str(response["executionArn"]), startedAt=iso(response["startDate"]))


def run_progress(stack: Stack, arn: str, *, arns: ModelArns, now: datetime) -> RunProgress:
    description = stack.client("stepfunctions").describe_execution(executionArn=arn)
    started: datetime = description["startDate"]
    summary = _summary(description)
    return RunProgress(
        name=str(description["name"]),
        arn=arn,
        status=str(description["status"]),
        modelStatus=describe_model(stack, arns)["status"],
        imagesLeft=queue_counts(stack)["total"],
        resultsWritten=_results_since(stack, started),
        elapsedSeconds=seconds_between(started, description.get("stopDate") or now),
        outcome=summary.get("outcome") if summary else None,
        error=description.get("error"),
    )


def watch_run(
    stack: Stack,
    arn: str,
    *,
    interval: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[RunProgress]:
    """The run's progress every `interval` seconds, the last one when it has ended."""
    arns = model_arns(stack)
    while True:
        progress = run_progress(stack, arn, arns=arns, now=clock())
        yield progress
        if progress["status"] != "RUNNING":
            return
        sleep(interval)


def run_record(
    stack: Stack,
    description: dict[str, Any],
    current_units: int | None,
    unit_price: float,
    now: datetime,
    events: list[dict[str, Any]] | None = None,
) -> RunRecord:
    started: datetime = description["startDate"]
    stopped: datetime | None = description.get("stopDate")
    summary = _summary(description)
    model_seconds, units = _model_time(summary, stopped or now)
    needs_history = summary is None or (units is None and bool(summary.get("modelStartedByRun")))
    if needs_history:
        history = (
            events
            if events is not None
            else _history(stack.client("stepfunctions"), description["executionArn"])
        )
        history_seconds, history_units = _model_time_from_history(history, stopped or now)
        model_seconds = model_seconds if model_seconds is not None else history_seconds
        units = units if units is not None else history_units
    if model_seconds and units is None:
        units = current_units
    return RunRecord(
        name=str(description["name"]),
        arn=str(description["executionArn"]),
        status=str(description["status"]),
        startedAt=iso(started),
        stoppedAt=iso(stopped) if stopped else None,
        durationSeconds=seconds_between(started, stopped or now),
        outcome=summary.get("outcome") if summary else None,
        error=description.get("error"),
        cause=description.get("cause"),
        backlogAtStart=summary.get("backlogAtStart") if summary else None,
        modelStartedByRun=summary.get("modelStartedByRun") if summary else None,
        modelStoppedByRun=summary.get("modelStoppedByRun") if summary else None,
        modelRunningSince=summary.get("modelRunningSince") if summary else None,
        inferenceUnits=units if model_seconds else None,
        modelSeconds=model_seconds,
        modelCostUsd=0.0 if model_seconds == 0 else model_cost_usd(units, model_seconds, unit_price),
    )


def timeline(events: list[dict[str, Any]]) -> list[TimelineStep]:
    """The states entered, grouped by README step, in the order the steps began."""
    steps: dict[int | None, TimelineStep] = {}
    for event in events:
        at = iso(event["timestamp"])
        if details := event.get("stateEnteredEventDetails"):
            name = details["name"]
            step = STEP_OF_STATE.get(name)
            entry = steps.setdefault(
                step,
                TimelineStep(
                    step=step,
                    title=STEP_TITLES[step] if step is not None else "States the step table does not know",
                    startedAt=at,
                    endedAt=at,
                    states=[],
                ),
            )
            entry["endedAt"] = at
            visit = next((visit for visit in entry["states"] if visit["name"] == name), None)
            if visit is None:
                entry["states"].append(StateVisit(name=name, entered=1, firstEnteredAt=at))
            else:
                visit["entered"] += 1
        elif details := event.get("stateExitedEventDetails"):
            step = STEP_OF_STATE.get(details["name"])
            if step in steps:
                steps[step]["endedAt"] = at
    return sorted(steps.values(), key=lambda entry: entry["startedAt"])


def _failures(events: list[dict[str, Any]]) -> list[RunFailure]:
    failures: list[RunFailure] = []
    state: str | None = None
    for event in events:
        if entered := event.get("stateEnteredEventDetails"):
            state = entered["name"]
            continue
        for key in ("taskFailedEventDetails", "executionFailedEventDetails", "executionAbortedEventDetails"):
            if details := event.get(key):
                failures.append(
                    RunFailure(
                        at=iso(event["timestamp"]),
                        state=state if key == "taskFailedEventDetails" else None,
                        error=str(details.get("error", "aborted" if "Aborted" in key else "unknown")),
                        cause=details.get("cause"),
                    )
                )
    return failures


def _summary(description: dict[str, Any]) -> dict[str, Any] | None:
    output = description.get("output")
    if not output:
        return None
    summary = json.loads(output)
    return summary if isinstance(summary, dict) else None


def _model_time(summary: dict[str, Any] | None, end: datetime) -> tuple[float | None, int | None]:
    if summary is None:
        return None, None
    units = summary.get("inferenceUnits")
    since = summary.get("modelRunningSince")
    if not since:
        # nothing-to-do and skipped-overlap runs never touched the model.
        return (0.0 if summary.get("outcome") else None), units
    finished = summary.get("finishedAt")
    return seconds_between(parse_iso(since), parse_iso(finished) if finished else end), units


def _model_time_from_history(events: list[dict[str, Any]], end: datetime) -> tuple[float | None, int | None]:
    """From the first time the run saw the model RUNNING to its stop call (or the end): (seconds, units)."""
    running_since: datetime | None = None
    stopped_at: datetime | None = None
    units: int | None = None
    for event in events:
        if (scheduled := event.get("taskScheduledEventDetails")) and _is_call(
            scheduled, "startProjectVersion"
        ):
            parameters = json.loads(scheduled.get("parameters") or "{}")
            units = parameters.get("MinInferenceUnits", units)
        succeeded = event.get("taskSucceededEventDetails")
        if not succeeded:
            continue
        if running_since is None and _is_call(succeeded, "describeProjectVersions"):
            descriptions = json.loads(succeeded.get("output") or "{}").get("ProjectVersionDescriptions", [])
            if descriptions and descriptions[0].get("Status") == "RUNNING":
                running_since = event["timestamp"]
        elif running_since is not None and stopped_at is None and _is_call(succeeded, "stopProjectVersion"):
            stopped_at = event["timestamp"]
    if running_since is None:
        return None, units
    return seconds_between(running_since, stopped_at or end), units


def _is_call(details: dict[str, Any], operation: str) -> bool:
    return details.get("resourceType") == _REKOGNITION and details.get("resource") == operation


def _history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    return [
        event
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
        for event in page["events"]
    ]


def _current_units(stack: Stack) -> int | None:
    """The model's units now: the estimate for runs whose summary does not say (older definitions)."""
    return describe_model(stack, model_arns(stack))["inferenceUnits"]


def _results_since(stack: Stack, started: datetime) -> int:
    """Results written since `started`, by listing ResultsPrefix (one request per 1,000 results)."""
    # S3 keeps LastModified to the second.
    since = started.replace(microsecond=0)
    s3 = stack.client("s3")
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=stack.outputs["ImageBucketName"], Prefix=stack.outputs["ResultsPrefix"]
    ):
        count += sum(1 for item in page.get("Contents", []) if item["LastModified"] >= since)
    return count
