"""The operations command against a local stack: `labelbatch ... --local ENDPOINT`, run as a user runs it.

Commands run in this process through click's runner (the local stack is in this process too); the tests that
need a real terminal or a separate `labelbatch local up` start processes of their own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner, Result

from e2e.stack_helpers import StackUnderTest
from labelbatch.cli import main
from labelbatch.images import SampleImage, generate_sample_images
from labelbatch.ops.target import Stack, local_stack

# Wide enough that rich never wraps a key or a sentence the tests look for.
COLUMNS = "250"


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
        """`labelbatch ARGUMENTS --local ENDPOINT` (or with `target` instead), with `env` changing os.environ
        while it runs (for the in-process stack too: leave AWS_ENDPOINT_URL alone while a run is under way, as
        the stack's functions read it)."""
        environment = {"COLUMNS": COLUMNS, "LABELBATCH_STACK": None, **(env or {})}
        chosen = ["--local", self.stack.endpoint] if target is None else list(target)
        runner = CliRunner(mix_stderr=False, env=environment)
        return runner.invoke(main, [*arguments, *chosen], input=stdin, catch_exceptions=False)

    def json(self, *arguments: str) -> Any:
        """The --json answer of a command that must succeed."""
        result = self.run(*arguments, "--json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


def enable_batch_run_schedule(stack: StackUnderTest) -> dict[str, Any]:
    """Enable the batch-run schedule, as deployed with ScheduleState=ENABLED (the test stacks fire none, so
    theirs is DISABLED); returns the schedule as it was."""
    scheduler = stack.client("scheduler")
    for summary in scheduler.list_schedules()["Schedules"]:
        if summary["Target"]["Arn"] == stack.outputs["StateMachineArn"]:
            schedule: dict[str, Any] = scheduler.get_schedule(Name=summary["Name"])
            scheduler.update_schedule(
                Name=schedule["Name"],
                ScheduleExpression=schedule["ScheduleExpression"],
                FlexibleTimeWindow=schedule["FlexibleTimeWindow"],
                Target=schedule["Target"],
                State="ENABLED",
            )
            return schedule
    raise AssertionError("the stack has no batch-run schedule")


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[SampleImage]:
    """Six PNG and JPEG images (names with spaces and non-ASCII letters) and the boxes drawn on each."""
    return generate_sample_images(tmp_path_factory.mktemp("samples"), 6)


@pytest.fixture
def operator(stack: StackUnderTest) -> Operator:
    return Operator(stack)
