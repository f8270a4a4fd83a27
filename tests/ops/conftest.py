"""The operations command against a local stack: `labelbatch ... --local ENDPOINT`, run as a user runs it.

Starting a local stack costs more than most tests here, so one serves every test of tests/ops in a process
(package scope; each xdist worker has its own). The `stack` fixture hands it over idle and makes it idle again
when the test ends: no run in progress, the model at rest, the consumer off, the start marker "none", both
queues and the bucket empty, the schedules disabled and the emulator as started. The runs stay in the
history, so a test finds its own by ARN. Commands run in this process through click's runner; tests that need
a terminal or a separate `labelbatch local up` start processes of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner, Result

from labelbatch.cli import main
from labelbatch.images import SampleImage, generate_sample_images
from labelbatch.ops.target import Stack, local_stack
from model_reaper.lock import LOCK_KEY, NO_OWNER
from support.local_stack import start_test_stack, stop_test_stack
from support.stack_helpers import StackUnderTest, stop_running_executions

# Wide enough that rich never wraps a key or a sentence the tests look for.
COLUMNS = "250"
_MODEL_ON = frozenset({"STARTING", "RUNNING"})


@dataclass(frozen=True)
class SharedStack:
    stack: StackUnderTest
    status_as_deployed: dict[str, Any]
    """`labelbatch status --json` right after the deployment, before any test touched the stack."""
    emulator_settings: dict[str, Any]


def labelbatch(
    *arguments: str, env: Mapping[str, str | None] | None = None, stdin: str | None = None
) -> Result:
    """`labelbatch ARGUMENTS` in this process, with `env` changing os.environ while it runs (the stack's
    functions have variables of their own)."""
    runner = CliRunner(mix_stderr=False, env={"COLUMNS": COLUMNS, "LABELBATCH_STACK": None, **(env or {})})
    return runner.invoke(main, list(arguments), input=stdin, catch_exceptions=False)


@dataclass
class Operator:
    """Runs `labelbatch` commands against one local stack and reads their answers."""

    stack: StackUnderTest

    @property
    def target(self) -> Stack:
        """The ops layer's view of the same stack, through the --local path."""
        return local_stack(self.stack.endpoint)

    def run(
        self,
        *arguments: str,
        target: Sequence[str] | None = None,
        env: Mapping[str, str | None] | None = None,
        stdin: str | None = None,
    ) -> Result:
        """`labelbatch ARGUMENTS --local ENDPOINT` (or with `target` instead)."""
        chosen = ["--local", self.stack.endpoint] if target is None else list(target)
        return labelbatch(*arguments, *chosen, env=env, stdin=stdin)

    def json(self, *arguments: str) -> Any:
        """The --json answer of a command that must succeed."""
        result = self.run(*arguments, "--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="package")
def shared_stack() -> Iterator[SharedStack]:
    local = start_test_stack()
    try:
        with pytest.MonkeyPatch.context() as patch:
            # SQS allows one purge of a queue a minute, and so does moto: idling the stack after each test
            # purges more often.
            patch.setenv("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false")
            stack = StackUnderTest.prepared(local.endpoint_url, local.config.region, local.outputs)
            yield SharedStack(
                stack=stack,
                status_as_deployed=Operator(stack).json("status"),
                emulator_settings=stack.model_report()["settings"],
            )
    finally:
        stop_test_stack(local)


@pytest.fixture
def stack(shared_stack: SharedStack) -> Iterator[StackUnderTest]:
    """The shared local stack, idle; made idle again when the test ends."""
    yield shared_stack.stack
    make_idle(shared_stack)


@pytest.fixture
def operator(stack: StackUnderTest) -> Operator:
    return Operator(stack)


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[SampleImage]:
    """Six PNG and JPEG images (names with spaces and non-ASCII letters) and the boxes drawn on each."""
    return generate_sample_images(tmp_path_factory.mktemp("samples"), 6)


def make_idle(shared: SharedStack) -> None:
    """Undo what a test did to the shared stack (see the module's docstring)."""
    stack, outputs = shared.stack, shared.stack.outputs
    sfn = stack.client("stepfunctions")
    if sfn.list_executions(stateMachineArn=outputs["StateMachineArn"], statusFilter="RUNNING")["executions"]:
        stop_running_executions(sfn, outputs["StateMachineArn"])
        # A stopped run never releases its run lock.
        stack.client("dynamodb").put_item(
            TableName=outputs["RunLockTableName"],
            Item={**LOCK_KEY, "owner": {"S": NO_OWNER}},
        )
    model = stack.model_report()
    if model["status"] in _MODEL_ON:
        stack.stop_model_as_operator()
    if model["status"] in {*_MODEL_ON, "STOPPING"}:
        stack.wait_for_model("STOPPED")
    if model["settings"] != shared.emulator_settings:
        stack.configure_model(shared.emulator_settings)
    if stack.consumer_state() != "Disabled":
        stack.client("lambda").update_event_source_mapping(
            UUID=outputs["EventSourceMappingId"], Enabled=False
        )
        stack.wait_for_consumer("Disabled")
    if stack.marker() != NO_OWNER:
        stack.set_marker(NO_OWNER)
    for queue in ("ImageQueueUrl", "DeadLetterQueueUrl"):
        stack.client("sqs").purge_queue(QueueUrl=outputs[queue])
    empty_bucket(stack)
    set_batch_run_schedule(stack, "DISABLED")


def empty_bucket(stack: StackUnderTest) -> None:
    s3 = stack.client("s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=stack.bucket):
        versions = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        if versions:
            s3.delete_objects(
                Bucket=stack.bucket,
                Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]},
            )


def set_batch_run_schedule(stack: StackUnderTest, state: str) -> dict[str, Any]:
    """Set the batch-run schedule ENABLED (as deployed with ScheduleState=ENABLED) or DISABLED (as the test
    stacks leave it: they fire none); returns the schedule as it was."""
    scheduler = stack.client("scheduler")
    for summary in scheduler.list_schedules()["Schedules"]:
        if summary["Target"]["Arn"] == stack.outputs["StateMachineArn"]:
            schedule: dict[str, Any] = scheduler.get_schedule(Name=summary["Name"])
            if schedule["State"] != state:
                scheduler.update_schedule(
                    Name=schedule["Name"],
                    ScheduleExpression=schedule["ScheduleExpression"],
                    FlexibleTimeWindow=schedule["FlexibleTimeWindow"],
                    Target=schedule["Target"],
                    State=state,
                )
            return schedule
    raise AssertionError("the stack has no batch-run schedule")
