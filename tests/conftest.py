"""What every suite shares: each test's tier marker, and the local-stack fixtures of tests/e2e,
tests/statemachine/test_paths.py and tests/bench."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from labelbatch.emulator import EmulatorSettings
from labelbatch.local.moto_shims import MappingSwitch
from labelbatch.local.stack import LocalStack
from support.local_stack import start_test_stack, stop_test_stack
from support.stack_helpers import FAST_MODEL, StackUnderTest, StartLocalStack

TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test's tier is its folder (tests/<tier>/...): `pytest -m <tier>` (make test-<tier>) runs one."""
    for item in items:
        item.add_marker(item.path.relative_to(TESTS).parts[0])


@pytest.fixture
def start_local_stack() -> Iterator[StartLocalStack]:
    """Start one local stack for the test; it is stopped when the test ends.

    moto keeps its services per process and a start resets them, so a test gets one stack at a time.
    """
    started: list[LocalStack] = []

    def start(
        *,
        emulator: EmulatorSettings = FAST_MODEL,
        parameters: Mapping[str, str] | None = None,
        mapping_switch: MappingSwitch | None = None,
        keep_test_event: bool = False,
    ) -> StackUnderTest:
        assert not started, "one local stack at a time: moto's services are per process"
        # start() stops whatever it started when it fails, so only a started stack is recorded.
        stack = start_test_stack(emulator=emulator, parameters=parameters, mapping_switch=mapping_switch)
        started.append(stack)
        return StackUnderTest.prepared(
            stack.endpoint_url, stack.config.region, stack.outputs, keep_test_event=keep_test_event
        )

    yield start
    for stack in started:
        stop_test_stack(stack)


@pytest.fixture
def stack(start_local_stack: StartLocalStack) -> StackUnderTest:
    """A local stack whose model starts in a second, with an empty image queue."""
    return start_local_stack()
