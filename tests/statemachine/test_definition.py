"""Static checks of the batch-run definition: the promises a reader cannot verify at a glance."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

pytestmark = pytest.mark.statemachine

DEFINITION_PATH = Path(__file__).resolve().parents[2] / "statemachine" / "batch_run.asl.json"
CLEANUP_ENTRY = "Clean Up: Consumer Touched?"
THROTTLING_ERRORS = {
    "rekognition": "Rekognition.ThrottlingException",
    "lambda": "Lambda.TooManyRequestsException",
    "sqs": "Sqs.RequestThrottledException",
    "ssm": "Ssm.TooManyUpdatesException",
    "sfn": "Sfn.ThrottlingException",
}


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFINITION_PATH.read_text())
    return loaded


@pytest.fixture(scope="module")
def states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = definition["States"]
    return found


def choice_rules(rule: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A rule and every rule nested in it through And, Or and Not."""
    yield rule
    for nested in rule.get("And", []) + rule.get("Or", []):
        yield from choice_rules(nested)
    if "Not" in rule:
        yield from choice_rules(rule["Not"])


def transitions(state: dict[str, Any]) -> set[str]:
    targets = {state[key] for key in ("Next", "Default") if key in state}
    targets |= {rule["Next"] for rule in state.get("Choices", [])}
    targets |= {catcher["Next"] for catcher in state.get("Catch", [])}
    return targets


def graph(states: dict[str, dict[str, Any]]) -> nx.DiGraph:
    edges = nx.DiGraph()
    edges.add_nodes_from(states)
    for name, state in states.items():
        edges.add_edges_from((name, target) for target in transitions(state))
    return edges


def test_every_transition_names_an_existing_state(definition: dict[str, Any], states: dict[str, Any]) -> None:
    # Given every Next, Default and Catch target, and the start state
    targets = {definition["StartAt"]} | {t for state in states.values() for t in transitions(state)}
    # Then each one is a state of the definition
    assert targets - set(states) == set()


def test_every_state_is_reachable_from_the_start(definition: dict[str, Any], states: dict[str, Any]) -> None:
    reachable = nx.descendants(graph(states), definition["StartAt"]) | {definition["StartAt"]}
    assert set(states) - reachable == set()


def test_the_definition_is_jsonpath_only(definition: dict[str, Any], states: dict[str, Any]) -> None:
    # moto's engine and the issue both require JSONPath: no JSONata anywhere.
    assert definition.get("QueryLanguage", "JSONPath") == "JSONPath"
    assert all(state.get("QueryLanguage", "JSONPath") == "JSONPath" for state in states.values())
    assert "{%" not in DEFINITION_PATH.read_text()


def test_tasks_use_sdk_integrations_only(states: dict[str, Any]) -> None:
    resources = {state["Resource"] for state in states.values() if state["Type"] == "Task"}
    assert resources
    assert all(resource.startswith("arn:aws:states:::aws-sdk:") for resource in resources)


def test_every_task_retries_throttling_of_its_service(states: dict[str, Any]) -> None:
    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        service = state["Resource"].split(":")[-2]
        retried = {error for retrier in state.get("Retry", []) for error in retrier["ErrorEquals"]}
        assert THROTTLING_ERRORS[service] in retried, name
        for retrier in state["Retry"]:
            assert retrier["MaxAttempts"] <= 30, name
            assert retrier.get("BackoffRate", 2.0) >= 1.0, name


def test_every_task_catches_everything_into_cleanup(states: dict[str, Any]) -> None:
    # Given the states of the cleanup path (everything reachable from its entry)
    cleanup = nx.descendants(graph(states), CLEANUP_ENTRY) | {CLEANUP_ENTRY}
    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        # Then every Task has a catch-all, and it leads into cleanup
        catch_all = [c for c in state.get("Catch", []) if c["ErrorEquals"] == ["States.ALL"]]
        assert len(catch_all) == 1, name
        assert catch_all[0]["Next"] in cleanup, name
        # and keeps the run's state: the error goes beside it, not over it
        assert catch_all[0]["ResultPath"] not in (None, "$"), name


def test_cleanup_ends_in_the_failure_that_carries_the_original_error(states: dict[str, Any]) -> None:
    edges = graph(states)
    ends = {name for name in nx.descendants(edges, CLEANUP_ENTRY) if not transitions(states[name])}
    assert ends == {"Run Failed"}
    assert states["Run Failed"] == {
        "Type": "Fail",
        "Comment": states["Run Failed"]["Comment"],
        "ErrorPath": "$.error.Error",
        "CausePath": "$.error.Cause",
    }


def test_success_ends_only_with_a_summary(states: dict[str, Any]) -> None:
    ends = {name for name, state in states.items() if state.get("End")}
    assert ends == {"Skip Overlapping Run", "Nothing To Do", "Summarize Run"}
    summary_fields = {"outcome", "backlogAtStart", "modelStartedByRun", "modelRunningSince", "finishedAt"}
    for name in ends:
        fields = {key.removesuffix(".$") for key in states[name]["Parameters"]}
        assert summary_fields <= fields, name


def test_every_loop_is_bounded_by_a_counter_it_advances(states: dict[str, Any]) -> None:
    edges = graph(states)
    loops = [component for component in nx.strongly_connected_components(edges) if len(component) > 1]
    # The start wait, the two consumer-state waits, the drain and the in-flight wait.
    assert len(loops) == 5
    for loop in loops:
        # Given the counters the loop advances with States.MathAdd ...
        advanced = {
            match
            for name in loop
            if states[name]["Type"] == "Pass"
            for value in states[name].get("Parameters", {}).values()
            for match in re.findall(r"States\.MathAdd\((\$\.[\w.]+),", str(value))
        }
        # ... and the counters its Choice states compare against a number or a setting
        compared = {
            rule["Variable"]
            for name in loop
            if states[name]["Type"] == "Choice"
            for top in states[name]["Choices"]
            for rule in choice_rules(top)
            if "Variable" in rule and any(key.startswith("Numeric") for key in rule)
        }
        # Then at least one counter is both advanced and compared inside the loop
        assert advanced & compared, sorted(loop)


def test_settings_turn_minutes_into_seconds_with_a_table_large_enough() -> None:
    # ArrayRange(0, 59940, 60) holds 1000 multiples of 60: minute values up to 999 index into it.
    text = DEFINITION_PATH.read_text()
    assert text.count("States.ArrayGetItem(States.ArrayRange(0, 59940, 60), ") == 2
