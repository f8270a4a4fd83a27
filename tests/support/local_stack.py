"""A local stack as the local-stack tests start it: a free port, no schedule fired, one-second polls, function
logs at WARNING; and stopped with any run a failed test left RUNNING."""

from __future__ import annotations

from collections.abc import Mapping

from labelbatch.emulator import EmulatorSettings
from labelbatch.local.moto_shims import MappingSwitch
from labelbatch.local.stack import LocalStack, LocalStackConfig
from support.stack_helpers import FAST_MODEL, stop_running_executions


def start_test_stack(
    *,
    emulator: EmulatorSettings = FAST_MODEL,
    parameters: Mapping[str, str] | None = None,
    mapping_switch: MappingSwitch | None = None,
) -> LocalStack:
    """A started local stack (start() stops whatever it started when it fails)."""
    config = LocalStackConfig(
        port=0,
        schedule=False,
        poll_seconds=1,
        function_log_level="WARNING",
        parameters=dict(parameters or {}),
        emulator=emulator,
        mapping_switch=mapping_switch or MappingSwitch(),
    )
    return LocalStack(config).start()


def stop_test_stack(stack: LocalStack) -> None:
    # A run left RUNNING by a failed test would keep calling the port of its SDK tasks, which the next stack
    # reuses (moto_shims.SDK_TASK_PORT).
    stop_running_executions(stack.client("stepfunctions"), stack.outputs["StateMachineArn"])
    stack.stop()
