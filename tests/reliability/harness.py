"""What a reliability scenario puts in, what its runs did, and the one checker of issue 4's five invariants.

A scenario drives a started local stack through `Scenario` (uploads, raw messages, runs, faults) and ends with
`check_invariants`, which checks all five invariants on what the scenario recorded and on the stack's final
state, invokes the reaper as its schedule would, and returns the scenario's row of docs/RELIABILITY.md.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal
from urllib.parse import unquote_plus

import pytest
from PIL import Image

from labelbatch.emulator import CustomLabelsEmulator, EmulatorSettings
from labelbatch.emulator.detector import detect_boxes
from labelbatch.emulator.model import DEFAULT_MIN_CONFIDENCE
from labelbatch.local.stack import LocalStack
from reliability.table import Row
from support.stack_helpers import Execution, StackUnderTest

POLL_SECONDS = 1
# A model that starts within the first poll and stops at once: runs take seconds.
FAST_MODEL = EmulatorSettings(start_seconds=1, stop_seconds=0.5)
RUN_TIMEOUT_SECONDS = 600
# Where a run may leave a model it started: stopping, stopped, or FAILED after a start that failed (a FAILED
# model does not run, is not billed and cannot be stopped).
NOT_RUNNING = frozenset({"STOPPING", "STOPPED", "FAILED"})
TRANSITIONS = frozenset({"STARTING", "STOPPING"})
# Entered only by a run that started the model, or that stopped one a dead run of this stack started.
MODEL_OWNING_STATES = frozenset({"Mark Model Started By Run", "Stop Model"})
# The function's attribute that follows an image's message through its retries to the dead-letter queue.
FIRST_MESSAGE_ATTRIBUTE = "labelbatch-first-message-id"
# Runs a scenario may need before every retried image is answered: a run leaves an image waiting out its retry
# delay to a later run (the default gives each image five attempts).
MAX_RUNS_FOR_RETRIES = 6

# "dead-lettered": no result; the image's message ends in the dead-letter queue, its analysis having kept
# failing for a reason outside the image.
Status = Literal["ok", "error", "dead-lettered"]
StartScenario = Callable[..., "Scenario"]
RecordRow = Callable[[Row], None]


@dataclass
class StackView(StackUnderTest):
    """The stack as the end-to-end tests see it (through its endpoint and outputs, never hard-coded names),
    plus what only the in-process stack offers: the emulator's operator view and invoking a function."""

    local: LocalStack = field(kw_only=True, repr=False)

    @classmethod
    def of(cls, local: LocalStack) -> StackView:
        prepared = StackUnderTest.prepared(local.endpoint_url, local.config.region, local.outputs)
        return cls(
            endpoint=prepared.endpoint,
            region=prepared.region,
            outputs=prepared.outputs,
            deploy_test_event=prepared.deploy_test_event,
            local=local,
        )

    @property
    def emulator(self) -> CustomLabelsEmulator:
        assert self.local.emulator is not None
        return self.local.emulator


@dataclass(frozen=True)
class Expected:
    """The result document an uploaded object must end with."""

    status: Status
    error_code: str | None = None
    labels: tuple[str, ...] | None = None
    """For ok: the JSON of each custom label the model gives for the uploaded pixels, in order."""


@cache
def model_labels(body: bytes) -> tuple[str, ...]:
    """What the emulated model answers for a valid image: its deterministic detector above the default
    threshold, as JSON strings (hashable, and compared exactly as the result document stores them)."""
    image = Image.open(io.BytesIO(body))
    found = [label for label in detect_boxes(image) if label["Confidence"] >= DEFAULT_MIN_CONFIDENCE]
    return tuple(json.dumps(label, sort_keys=True) for label in found)


def ok(body: bytes) -> Expected:
    return Expected(status="ok", labels=model_labels(body))


def error(code: str) -> Expected:
    return Expected(status="error", error_code=code)


def dead_lettered() -> Expected:
    return Expected(status="dead-lettered")


@dataclass(frozen=True)
class Unusable:
    """A message the function cannot act on, sent straight to the image queue."""

    body: str
    fate: Literal["dead-lettered", "ignored", "queued"]
    reason: str
    """Text the function log must give as the reason (for "queued": the reason it keeps failing)."""


class FunctionLog:
    """The structured log lines of the handlers (execution environments write to the captured stderr)."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self._capfd = capfd
        self._lines: list[dict[str, Any]] = []
        # What followed the last newline of the previous read: a line an environment was still writing.
        self._unfinished = ""

    def lines(self) -> list[dict[str, Any]]:
        *finished, self._unfinished = (self._unfinished + self._capfd.readouterr().err).split("\n")
        for text in finished:
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(line, dict) and "level" in line and "message" in line:
                self._lines.append(line)
        return list(self._lines)

    def with_message(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["message"] == message]


@dataclass
class RunRecord:
    """One batch run: what the scenario expected and what the stack looked like when it ended."""

    execution: Execution
    expected_status: str
    expected_error: str | None
    expected_outcome: str | None
    images_before: frozenset[str]
    owns_model: bool
    consumer_after: str
    model_after: str
    running_seconds: float
    """The model's RUNNING time between the run's start and its end."""
    waiting_after: int
    """Visible and in flight: what the run should have drained."""
    retrying_after: int
    """Delayed: images waiting out a retry delay, left to a later run."""
    results_after: frozenset[str]
    running_at_start: float

    @property
    def aborted(self) -> bool:
        return self.expected_status == "ABORTED"

    def summary(self) -> str:
        if self.execution.status == "SUCCEEDED" and self.execution.output is not None:
            return f"SUCCEEDED {self.execution.output['outcome']}"
        if self.execution.status == "FAILED":
            return f"FAILED {self.execution.error}"
        return self.execution.status


@dataclass
class PendingRun:
    arn: str
    images_before: frozenset[str]
    running_at_start: float


@dataclass
class Scenario:
    """A started local stack, and everything a scenario did to it."""

    stack: StackView
    log: FunctionLog
    max_run_minutes: int
    expected: dict[str, Expected] = field(default_factory=dict)
    unusable: dict[str, Unusable] = field(default_factory=dict)
    """By SQS message ID."""
    runs: list[RunRecord] = field(default_factory=list)
    operator_start: tuple[int, str] | None = None
    """When an operator started the model: how many runs had ended by then, and the model's status before."""
    retries_from: int | None = None
    """The index in runs of the first run played for retried images, once run_retries was called: how many
    such runs a scenario needs depends on timing (whether a retry delay ends before the drain does)."""

    # -- input ----------------------------------------------------------------------------------------------

    def upload(self, key: str, body: bytes, expected: Expected | None = None) -> str:
        """Put an object under InputPrefix (key relative to it); returns the full key."""
        full_key = self.stack.input_prefix + key
        self.stack.upload(full_key, body)
        self.expected[full_key] = expected or ok(body)
        return full_key

    def upload_many(self, bodies: Iterable[tuple[str, bytes]]) -> list[str]:
        return [self.upload(key, body) for key, body in bodies]

    def send(self, message: Unusable) -> str:
        """Put a raw message on the image queue, as a misconfigured sender would; returns its ID."""
        response = self.stack.client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=message.body)
        message_id = str(response["MessageId"])
        self.unusable[message_id] = message
        return message_id

    # -- operator-side changes to emulated resources ---------------------------------------------------------

    @property
    def queue_url(self) -> str:
        return self.stack.outputs["ImageQueueUrl"]

    def set_visibility_timeout(self, seconds: int) -> None:
        """Shorten the image queue's visibility timeout (360 s in the template) so that a message comes back
        while its first delivery is still being analyzed. An operator-side change of the emulated queue; the
        template stays as it is. (Failed messages come back after the function's RetryDelaySeconds.)"""
        self.stack.client("sqs").set_queue_attributes(
            QueueUrl=self.queue_url, Attributes={"VisibilityTimeout": str(seconds)}
        )

    def emulator(self) -> CustomLabelsEmulator:
        return self.stack.emulator

    def start_model_as_operator(self) -> None:
        """An operator starts the model: from then on a RUNNING model is theirs, not any earlier run's."""
        self.operator_start = (len(self.runs), self.stack.model_status())
        self.stack.start_model_as_operator()

    def set_model(self, **settings: object) -> None:
        self.emulator().update_settings(settings)

    # -- runs -----------------------------------------------------------------------------------------------

    def start_run(self) -> PendingRun:
        """Start one batch run exactly as the schedule does."""
        images_before = frozenset(self.expected)
        running_at_start = self.running_seconds()
        return PendingRun(self.stack.local.start_batch_run(), images_before, running_at_start)

    def finish_run(
        self,
        pending: PendingRun,
        *,
        status: str,
        error: str | None = None,
        outcome: str | None = None,
    ) -> RunRecord:
        """Wait for the run to end and record what it left behind, right away."""
        self.stack.local.wait_for_execution(pending.arn, timeout=RUN_TIMEOUT_SECONDS)
        consumer_after = self.stack.consumer_state()
        model_after = self.stack.model_status()
        running_seconds = self.running_seconds() - pending.running_at_start
        waiting_after, retrying_after = self.stack.waiting(), self.stack.retrying()
        results_after = frozenset(self.stack.result_documents())
        execution = self.stack.execution(pending.arn)
        record = RunRecord(
            execution=execution,
            expected_status=status,
            expected_error=error,
            expected_outcome=outcome,
            images_before=pending.images_before,
            owns_model=bool(MODEL_OWNING_STATES & set(execution.entered)),
            consumer_after=consumer_after,
            model_after=model_after,
            running_seconds=running_seconds,
            waiting_after=waiting_after,
            retrying_after=retrying_after,
            results_after=results_after,
            running_at_start=pending.running_at_start,
        )
        self.runs.append(record)
        return record

    def run(self, *, status: str, error: str | None = None, outcome: str | None = None) -> RunRecord:
        return self.finish_run(self.start_run(), status=status, error=error, outcome=outcome)

    def run_retries(self) -> None:
        """Play the later runs that answer the images left waiting out a retry delay, as the schedule would:
        each once the delay is over and the image is waiting again."""
        self.retries_from = len(self.runs)
        for _ in range(MAX_RUNS_FOR_RETRIES):
            if self.stack.retrying() == 0 and self.stack.waiting() == 0:
                return
            self.wait_until("a retried image to wait again", lambda: self.stack.waiting() > 0, timeout=330)
            self.run(status="SUCCEEDED", outcome="processed")
        assert self.stack.retrying() == 0, f"images still retrying after {MAX_RUNS_FOR_RETRIES} more runs"

    def abort(self, pending: PendingRun) -> RunRecord:
        """Stop the execution from outside, as an operator would with StopExecution."""
        self.stack.client("stepfunctions").stop_execution(
            executionArn=pending.arn, cause="stopped from outside"
        )
        return self.finish_run(pending, status="ABORTED")

    # -- observation ----------------------------------------------------------------------------------------

    def running_seconds(self) -> float:
        return float(self.stack.model_usage()["runningSeconds"])

    def wait_until(self, what: str, condition: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"still waiting, after {timeout} s, for {what}")
            time.sleep(0.05)

    def results_so_far(self) -> int:
        listed = self.stack.client("s3").list_objects_v2(
            Bucket=self.stack.bucket, Prefix=self.stack.results_prefix
        )
        return int(listed.get("KeyCount", 0))

    def result_versions(self) -> dict[str, int]:
        """How many times each result was written (the bucket keeps every version)."""
        return {key: len(ids) for key, ids in _result_version_ids(self.stack).items()}

    def invoke_reaper(self) -> dict[str, str]:
        outcome: dict[str, str] = self.stack.local.invoke("ModelReaperFunction", {})
        return outcome


# -- the checker --------------------------------------------------------------------------------------------


def check_invariants(scenario: Scenario, *, reaper: Literal["reaps", "leaves alone"]) -> Row:
    """Check invariants 1-5 on what the scenario recorded and left behind; returns its table row.

    `reaper` is what the reaper must decide when it runs after the scenario, as its schedule would run it:
    "reaps" only when a dead run left a model it started RUNNING."""
    stack = scenario.stack
    violations: list[str] = []
    bound = scenario.max_run_minutes * 60 + POLL_SECONDS

    # Invariants 2, 3 and 4 hold for every run that ended by itself.
    retried = _retried_images(scenario)
    for number, run in enumerate(scenario.runs, start=1):
        violations += _run_violations(stack, number, run, bound, retried)

    # Invariant 5: the reaper, on its schedule, after the scenario (once a start or stop under way is over).
    _settle_model(scenario)
    violations += _reaper_violations(scenario, reaper)
    _settle_model(scenario)
    violations += _aborted_run_violations(scenario, bound)
    # Invariant 1: every object answered once, consistently; only unusable messages dead-lettered.
    documents = stack.result_documents()
    violations += _result_violations(scenario, documents)
    dead_letters = _dead_letters(stack)
    violations += _message_violations(scenario, dead_letters)

    assert not violations, "invariants broken:\n- " + "\n- ".join(violations)
    statuses = [document["status"] for document in documents.values()]
    return Row(
        scenario="",  # the scenario's ID, filled in by the `record` fixture
        runs=_runs_text(scenario),
        images_in=len(scenario.expected),
        results_ok=statuses.count("ok"),
        results_error=statuses.count("error"),
        dead_lettered=len(dead_letters),
        model_after=stack.model_status(),
        consumer_after=stack.consumer_state(),
    )


def _retried_images(scenario: Scenario) -> set[str]:
    """The uploaded images whose analysis failed at least once (and was sent back, or dead-lettered)."""
    reasons = [str(line.get("reason")) for line in scenario.log.with_message("message failed")]
    prefix = f"s3://{scenario.stack.bucket}/"
    return {key for key in scenario.expected if any(f"{prefix}{key}" in reason for reason in reasons)}


def _run_violations(
    stack: StackView, number: int, run: RunRecord, bound: float, retried: set[str]
) -> list[str]:
    found: list[str] = []
    name = f"run {number} ({run.execution.arn.rsplit(':', 1)[-1]})"
    execution = run.execution
    # 4: the status tells the truth.
    if execution.status != run.expected_status:
        found.append(f"4: {name} ended {execution.status}, expected {run.expected_status}")
    if execution.status == "FAILED":
        if execution.error != run.expected_error:
            found.append(f"4: {name} failed with {execution.error}, expected {run.expected_error}")
        if not execution.cause:
            found.append(f"4: {name} failed without a cause")
    if execution.status == "SUCCEEDED":
        outcome = (execution.output or {}).get("outcome")
        if outcome != run.expected_outcome:
            found.append(f"4: {name} succeeded with outcome {outcome}, expected {run.expected_outcome}")
        if outcome == "processed":
            # An image of its backlog may be left unanswered only after its analysis failed: it is then sent
            # back for a later run (it may even be waiting again by the time the run ends), or dead-lettered.
            unanswered = {
                key for key in run.images_before if stack.expected_result_key(key) not in run.results_after
            }
            if unanswered - retried:
                never_failed = sorted(unanswered - retried)
                found.append(f"4: {name} succeeded with images of its backlog unanswered: {never_failed}")
            if run.waiting_after > len(retried):
                found.append(f"4: {name} succeeded with {run.waiting_after} messages still waiting")
        if outcome == "skipped-overlap" and not _only_took_the_lock(execution):
            found.append(f"4: {name} skipped but called {execution.task_resources}")
    if run.aborted:
        return found  # 2 and 3 are the reaper's to restore, checked with it.
    if (execution.output or {}).get("outcome") == "skipped-overlap":
        return found  # it touched nothing: the model and the consumer are the other run's.
    # 2: consumer off, an owned model stopping or stopped.
    if run.consumer_after != "Disabled":
        found.append(f"2: {name} ended with the consumer {run.consumer_after}")
    if run.owns_model and run.model_after not in NOT_RUNNING:
        found.append(f"2: {name} started the model and left it {run.model_after}")
    # 3: the model's running time is bounded.
    if run.owns_model and run.running_seconds > bound:
        found.append(f"3: {name} kept the model RUNNING {run.running_seconds:.1f} s, more than {bound} s")
    return found


def _only_took_the_lock(execution: Execution) -> bool:
    """The overlap guard's call (retried), and nothing that touches the model, the consumer or the queue."""
    return set(execution.task_resources) == {"aws-sdk:dynamodb:updateItem"}


def _reaper_violations(scenario: Scenario, expected: str) -> list[str]:
    stack = scenario.stack
    found: list[str] = []
    running_runs = [e for e in stack.executions() if e["status"] == "RUNNING"]
    before = (stack.model_status(), stack.marker(), stack.consumer_state())
    abandoned = (
        before[0] == "RUNNING" and before[1] != "none" and not running_runs and stack.queue_backlog() == 0
    )
    if abandoned != (expected == "reaps"):
        found.append(
            f"5: the scenario expected the reaper to {expected}, but model/marker/consumer are {before}"
        )
    outcome = scenario.invoke_reaper()
    after = (stack.model_status(), stack.marker(), stack.consumer_state())
    if expected == "reaps":
        if outcome != {"action": "reaped", "reason": "abandoned-by-run"}:
            found.append(f"5: the reaper did not stop the abandoned model: {outcome}")
        if after[0] not in NOT_RUNNING or after[1] != "none" or after[2] != "Disabled":
            found.append(f"5: after reaping, model/marker/consumer are {after}")
    else:
        if outcome.get("action") != "none":
            found.append(f"5: the reaper acted on a model no dead run left running: {outcome}")
        # Leaving alone may still clear the marker of a dead run whose model is at rest, and nothing else.
        allowed = (
            (before[0], "none", before[2]) if outcome.get("reason") == "stale-marker-cleared" else before
        )
        if after != allowed:
            found.append(f"5: the reaper changed model/marker/consumer from {before} to {after}")
    return found


def _aborted_run_violations(scenario: Scenario, bound: float) -> list[str]:
    """2 and 3 for a run stopped from outside, which cannot clean up: restored by what came after it (the
    reaper, or a later run that adopted the model), with the model stopped within the bound."""
    found: list[str] = []
    consumer, final_model = scenario.stack.consumer_state(), scenario.stack.model_status()
    for number, run in enumerate(scenario.runs, start=1):
        if not run.aborted:
            continue
        # A run's model is judged as it was when an operator took the model over, if one did after the run.
        taken_over = scenario.operator_start is not None and number <= scenario.operator_start[0]
        model = scenario.operator_start[1] if scenario.operator_start and taken_over else final_model
        if consumer != "Disabled" or (run.owns_model and model not in NOT_RUNNING):
            found.append(f"2: aborted run {number}: in the end the model is {model}, the consumer {consumer}")
        running = scenario.running_seconds() - run.running_at_start
        if running > bound:
            found.append(f"3: aborted run {number}: the model ran {running:.1f} s before it was stopped")
    return found


def _settle_model(scenario: Scenario) -> None:
    """Let a start or stop in progress finish, so that the row shows a settled state."""
    scenario.wait_until("the model to settle", lambda: scenario.stack.model_status() not in TRANSITIONS, 30)


def _runs_text(scenario: Scenario) -> str:
    """The runs a scenario played, in order. The runs for retried images, whose number depends on timing, are
    named once (run_retries checked that each SUCCEEDED processed), so the table reads the same every time."""
    played = scenario.runs if scenario.retries_from is None else scenario.runs[: scenario.retries_from]
    text = ", ".join(run.summary() for run in played) or "none"
    if scenario.retries_from is not None:
        text += ", then as many runs as retries need, each SUCCEEDED processed"
    return text


def _result_violations(scenario: Scenario, documents: dict[str, dict[str, Any]]) -> list[str]:
    stack = scenario.stack
    found: list[str] = []
    expected_keys = {
        stack.expected_result_key(key): key
        for key, expected in scenario.expected.items()
        if expected.status != "dead-lettered"
    }
    missing = sorted(set(expected_keys) - set(documents))
    strays = sorted(set(documents) - set(expected_keys))
    if missing:
        found.append(f"1: {len(missing)} images have no result: {missing[:5]}")
    if strays:
        found.append(f"1: results for no uploaded image, or for one that was dead-lettered: {strays[:5]}")
    for document_key, key in expected_keys.items():
        document = documents.get(document_key)
        if document is None:
            continue
        expected = scenario.expected[key]
        error = document.get("error") or {}
        got = (document["status"], error.get("code"), document["image"]["key"], document["image"]["bucket"])
        want = (expected.status, expected.error_code, key, stack.bucket)
        if got != want:
            found.append(f"1: {key!r} has status/code/key/bucket {got}, expected {want}")
        elif expected.labels is not None:
            labels = tuple(json.dumps(label, sort_keys=True) for label in document["customLabels"])
            if labels != expected.labels:
                found.append(f"1: {key!r} has labels {labels}, the model gives {expected.labels}")
    found += _rewrite_violations(stack)
    return found


def _result_version_ids(stack: StackView) -> dict[str, list[str]]:
    s3 = stack.client("s3")
    versions: dict[str, list[str]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=stack.bucket, Prefix=stack.results_prefix
    ):
        for version in page.get("Versions", []):
            versions.setdefault(version["Key"], []).append(version["VersionId"])
    return versions


def _rewrite_violations(stack: StackView) -> list[str]:
    """The bucket keeps every version: a result written again must say the same (analyzedAt aside)."""
    s3 = stack.client("s3")
    found = []
    for key, ids in _result_version_ids(stack).items():
        if len(ids) < 2:
            continue
        contents = set()
        for version_id in ids:
            document = json.loads(
                s3.get_object(Bucket=stack.bucket, Key=key, VersionId=version_id)["Body"].read()
            )
            document.pop("analyzedAt")
            contents.add(json.dumps(document, sort_keys=True))
        if len(contents) != 1:
            found.append(f"1: {key} was written {len(ids)} times with different content")
    return found


def _dead_letters(stack: StackView) -> list[tuple[str, str]]:
    """The dead-lettered messages as (ID as first sent, body): the function sends a copy to the dead-letter
    queue with the first ID in an attribute; the queue's redrive moves the message itself."""
    sqs = stack.client("sqs")
    url = stack.outputs["DeadLetterQueueUrl"]
    found: list[tuple[str, str]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            first = message.get("MessageAttributes", {}).get(FIRST_MESSAGE_ATTRIBUTE)
            found.append((first["StringValue"] if first else message["MessageId"], message["Body"]))


def _message_violations(scenario: Scenario, dead_letters: list[tuple[str, str]]) -> list[str]:
    found: list[str] = []
    by_fate = {
        fate: {mid for mid, message in scenario.unusable.items() if message.fate == fate}
        for fate in ("dead-lettered", "ignored", "queued")
    }
    # Dead-lettered images are known by the key in their notification, sent messages by their ID.
    image_keys = {key for key, expected in scenario.expected.items() if expected.status == "dead-lettered"}
    images = sorted(key for _, body in dead_letters for key in image_keys if _names_key(body, key))
    messages = sorted(
        mid for mid, body in dead_letters if not any(_names_key(body, key) for key in image_keys)
    )
    if messages != sorted(by_fate["dead-lettered"]):
        found.append(f"1: dead-letter queue holds {messages}, expected {sorted(by_fate['dead-lettered'])}")
    if images != sorted(image_keys):
        found.append(f"1: dead-letter queue holds images {images}, expected {sorted(image_keys)}")
    backlog = scenario.stack.queue_backlog()
    if backlog != len(by_fate["queued"]):
        found.append(f"1: {backlog} messages left in the image queue, expected {len(by_fate['queued'])}")
    if scenario.stack.retrying() != 0:
        found.append(
            f"1: {scenario.stack.retrying()} images still wait out a retry delay: no later run answered them"
        )
    failed = {line["messageId"]: line for line in scenario.log.with_message("message failed")}
    ignored = {line.get("messageId"): line for line in scenario.log.with_message("ignored")}
    for message_id, message in scenario.unusable.items():
        logged = ignored.get(message_id) if message.fate == "ignored" else failed.get(message_id)
        if logged is None or message.reason not in str(logged.get("reason")):
            found.append(f"1: no log line gives {message.reason!r} as the reason for message {message_id}")
    return found


def _names_key(body: str, key: str) -> bool:
    """Whether a message body is an S3 notification of `key` (keys in notifications are URL-encoded)."""
    try:
        records = json.loads(body).get("Records", [])
    except (ValueError, AttributeError):
        return False
    return any(unquote_plus(record["s3"]["object"]["key"]) == key for record in records)
