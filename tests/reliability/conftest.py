"""Fixtures of the reliability suite: its size, one local stack per scenario, and the table's rows.

LABELBATCH_RELIABILITY=reduced (the default, what `make test` runs) or full (`make reliability`) sets the
sizes. Each scenario starts its own local stack (moto's services are per process and a start resets them, so
every pytest-xdist worker runs one stack at a time) and records its row of docs/RELIABILITY.md when it passes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from labelbatch.emulator import EmulatorSettings
from labelbatch.local.stack import LocalStack, LocalStackConfig, local_parameters
from reliability.harness import (
    FAST_MODEL,
    POLL_SECONDS,
    FunctionLog,
    RecordRow,
    Scenario,
    StackView,
    StartScenario,
)
from reliability.table import MODE_VARIABLE, SIZES, SPEC_BY_TEST, Row, Sizes, record_row, settle_table
from support.stack_helpers import stop_running_executions


@pytest.fixture(scope="session")
def sizes() -> Sizes:
    mode = os.environ.get(MODE_VARIABLE, "reduced")
    if mode not in SIZES:
        raise pytest.UsageError(f"{MODE_VARIABLE} must be one of {', '.join(SIZES)}, not {mode!r}")
    return SIZES[mode]


@pytest.fixture(scope="session")
def rows_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory shared by all workers of this session (pytest-xdist gives each worker a subdirectory of
    one session directory), so that the last scenario to finish sees every row."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "reliability-rows"


@pytest.fixture
def start_scenario(capfd: pytest.CaptureFixture[str]) -> Iterator[StartScenario]:
    """Start the local stack of this test's scenario (stopped when the test ends); handler logs are read from
    the captured stderr."""
    stacks: list[StackView] = []

    def start(
        *,
        emulator: EmulatorSettings = FAST_MODEL,
        parameters: Mapping[str, str] | None = None,
        # WARNING: the reason every failed message was retried or dead-lettered is in the log.
        function_log_level: str = "WARNING",
    ) -> Scenario:
        assert not stacks, "one local stack per scenario: moto's services are per process"
        config = LocalStackConfig(
            port=0,
            schedule=False,
            poll_seconds=POLL_SECONDS,
            function_log_level=function_log_level,
            parameters=dict(parameters or {}),
            emulator=emulator,
        )
        stack = LocalStack(config).start()
        try:
            view = StackView.of(stack)
        except BaseException:
            stack.stop()
            raise
        stacks.append(view)
        max_run_minutes = int(local_parameters(config)["MaxRunMinutes"])
        return Scenario(view, FunctionLog(capfd), max_run_minutes)

    yield start
    for view in stacks:
        # A run left RUNNING by a failed scenario would keep calling the port of its SDK tasks, which the next
        # stack reuses (moto_shims.SDK_TASK_PORT).
        stop_running_executions(view.client("stepfunctions"), view.outputs["StateMachineArn"])
        view.local.stop()


@pytest.fixture
def record(request: pytest.FixtureRequest, rows_directory: Path, sizes: Sizes) -> RecordRow:
    """Record this scenario's row; the scenario that completes the table settles docs/RELIABILITY.md."""
    spec = SPEC_BY_TEST[request.function.__name__]

    def record_and_settle(row: Row) -> None:
        record_row(rows_directory, replace(row, scenario=spec.id))
        written = settle_table(rows_directory, sizes.mode)
        if written is not None and sizes.mode != "reduced":
            # Shown in pytest's warnings summary, where a full run's reader finds it.
            warnings.warn(f"reliability table ({sizes.mode} mode) written to {written}", stacklevel=1)

    return record_and_settle
