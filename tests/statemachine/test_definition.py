"""Static checks of the batch-run definition: the promises a reader cannot verify at a glance."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonata
import networkx as nx
import pytest

from support.template import (
    DEFINITION_PATH,
    EXAMPLE_PROJECT_VERSION_ARN,
    TEMPLATE_PATH,
    deployed_definition,
    evaluate_jsonata,
    load_template,
    run_input,
)

BODY = "Process Waiting Images"
SWITCH_OFF_ENTRY = "Anything To Switch Off?"
POLL_LOOP_WAIT = "Wait For Next Poll"
# The one retry policy every Task shares (a task-specific retrier may come before it).
SHARED_RETRY = {
    "ErrorEquals": ["States.TaskFailed"],
    "IntervalSeconds": 1,
    "MaxAttempts": 3,
    "BackoffRate": 2.0,
    "JitterStrategy": "FULL",
}
HISTORY_QUOTA_EVENTS = 25_000
# What the run's JSONata states read beside their input: the context object's entry time.
CONTEXT = {"State": {"EnteredTime": "2026-01-01T00:00:00Z"}}
DRAIN_TARGET = {"DrainTargetMinutes": "10", "MaxInferenceUnits": "4", "TpsPerInferenceUnit": "5"}
# Events a state adds to the execution history: entered and exited, and for a Task also scheduled, started
# and succeeded.
EVENTS_PER_STATE = {"Task": 5}
EVENTS_PER_OTHER_STATE = 2


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFINITION_PATH.read_text())
    return loaded


def deployed_states(deployed: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every state of the definition as deployed for the example stack (its placeholders substituted)."""
    found: dict[str, dict[str, Any]] = {}
    for scope in scopes(deployed or deployed_definition()):
        found |= scope["States"]
    return found


RUN_INPUT = run_input(deployed_definition(), waiting=10)


def changed_numbers(before: Any, after: Any, path: str = "$") -> Iterator[str]:
    """The JSONPath of every number that differs between two documents."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in before.keys() & after.keys():
            yield from changed_numbers(before[key], after[key], f"{path}.{key}")
    elif isinstance(after, int | float) and not isinstance(after, bool) and before != after:
        yield path


def scopes(machine: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The definition and every state machine nested in it (Parallel branches, Map item processors)."""
    yield machine
    for state in machine["States"].values():
        for nested in [*state.get("Branches", []), *filter(None, [state.get("ItemProcessor")])]:
            yield from scopes(nested)


@pytest.fixture(scope="module")
def states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, nested ones included, by name (names are unique across the whole definition)."""
    found: dict[str, dict[str, Any]] = {}
    for scope in scopes(definition):
        for name, state in scope["States"].items():
            assert name not in found, f"{name} is defined twice"
            found[name] = state
    return found


def read_by(rule: dict[str, Any]) -> set[str]:
    """The input a JSONata Choice rule reads, as JSONPaths ($states.input.clock.polls is $.clock.polls)."""
    return {f"$.{path}" for path in re.findall(r"\$states\.input\.([\w.\[\]]+)", rule["Condition"])}


def transitions(state: dict[str, Any]) -> set[str]:
    targets = {state[key] for key in ("Next", "Default") if key in state}
    targets |= {rule["Next"] for rule in state.get("Choices", [])}
    targets |= {catcher["Next"] for catcher in state.get("Catch", [])}
    return targets


def graph(scope: dict[str, Any]) -> nx.DiGraph:
    edges = nx.DiGraph()
    edges.add_nodes_from(scope["States"])
    for name, state in scope["States"].items():
        edges.add_edges_from((name, target) for target in transitions(state))
    return edges


def test_every_transition_stays_in_its_scope_and_names_an_existing_state(definition: dict[str, Any]) -> None:
    for scope in scopes(definition):
        targets = {scope["StartAt"]} | {t for state in scope["States"].values() for t in transitions(state)}
        assert targets - set(scope["States"]) == set()


def test_every_state_is_reachable_from_its_start(definition: dict[str, Any]) -> None:
    for scope in scopes(definition):
        reachable = nx.descendants(graph(scope), scope["StartAt"]) | {scope["StartAt"]}
        assert set(scope["States"]) - reachable == set()


def test_every_jsonata_expression_compiles(states: dict[str, Any]) -> None:
    # The arithmetic states are JSONata, the rest JSONPath: a syntax error in an expression would only show
    # when a run reaches it, so every one is compiled here.
    expressions = [
        expression
        for name, state in states.items()
        if state.get("QueryLanguage") == "JSONata"
        for expression in re.findall(r"\{%(.*?)%\}", json.dumps(state))
    ]
    assert len(expressions) >= 5
    for expression in expressions:
        jsonata.Jsonata(json.loads(f'"{expression}"'))


def test_tasks_use_sdk_integrations_only(states: dict[str, Any]) -> None:
    resources = {state["Resource"] for state in states.values() if state["Type"] == "Task"}
    assert resources
    assert all(resource.startswith("arn:aws:states:::aws-sdk:") for resource in resources)


def test_every_task_retries_with_the_shared_policy_last(states: dict[str, Any]) -> None:
    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        retriers = state["Retry"]
        assert retriers[-1] == SHARED_RETRY, name
        # A task-specific retrier before it names the errors it is for, never the catch-all.
        for retrier in retriers[:-1]:
            assert "States.ALL" not in retrier["ErrorEquals"], name
            assert "States.TaskFailed" not in retrier["ErrorEquals"], name


def test_one_catch_sends_every_fault_of_the_body_to_the_switch_off(
    definition: dict[str, Any], states: dict[str, Any]
) -> None:
    body = states[BODY]
    assert body["Type"] == "Parallel"
    assert body["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": SWITCH_OFF_ENTRY}
    ]
    assert body["Next"] == SWITCH_OFF_ENTRY
    # Inside the body no Task catches everything: a fault ends the branch and reaches the Parallel's Catch.
    for branch in body["Branches"]:
        for scope in scopes(branch):
            for name, state in scope["States"].items():
                for catcher in state.get("Catch", []):
                    assert "States.ALL" not in catcher["ErrorEquals"], name


def test_every_run_that_took_the_lock_releases_it(definition: dict[str, Any]) -> None:
    edges = graph(definition)
    # Every end reachable after the lock was taken lies beyond the release.
    after_lock = nx.descendants(edges, BODY) | {BODY}
    ends = {name for name in after_lock if not transitions(definition["States"][name])}
    beyond_release = nx.descendants(edges, "Release Run Lock")
    assert ends <= beyond_release
    assert nx.has_path(edges.subgraph(after_lock - {"Release Run Lock"}), BODY, "Run Failed") is False


def test_every_failure_is_a_named_fail_state(states: dict[str, Any]) -> None:
    failures = {name: state for name, state in states.items() if state["Type"] == "Fail"}
    named = {state["Error"] for state in failures.values() if "Error" in state}
    assert named == {
        "ModelNotUsable",
        "ModelStartFailed",
        "ModelStartTimedOut",
        "ModelStoppedDuringRun",
        "ConsumerNotEnabled",
        "RunTimedOut",
    }
    # The two that re-raise what was caught carry the original error and cause.
    assert {name for name, state in failures.items() if "ErrorPath" in state} == {
        "Run Failed",
        "Switch-Off Failed",
    }


def test_success_ends_only_with_a_summary(definition: dict[str, Any]) -> None:
    top = definition["States"]
    ends = {name for name, state in top.items() if state.get("End")}
    assert ends == {"Skip Overlapping Run", "Summarize Run"}
    summary_fields = {
        "outcome",
        "backlogAtStart",
        "modelStartedByRun",
        "modelStoppedByRun",
        "modelRunningSince",
        "inferenceUnits",
        "consumerConcurrency",
        "finishedAt",
    }
    for name in ends:
        assert {key.removesuffix(".$") for key in top[name]["Parameters"]} == summary_fields, name


def test_every_loop_is_bounded_by_a_counter_it_advances(
    definition: dict[str, Any], states: dict[str, Any]
) -> None:
    loops = [
        component
        for scope in scopes(definition)
        for component in nx.strongly_connected_components(graph(scope))
        if len(component) > 1
    ]
    # The poll loop (with the test-event removal and consumer enabling inside it), the stop the model refuses
    # and the wait for the consumer to stop.
    assert len(loops) == 3
    deployed = deployed_states()
    for loop in loops:
        # Given the counters the loop advances: the numbers its JSONata states change in what they pass on ...
        advanced = {
            counter
            for name in loop
            if states[name].get("QueryLanguage") == "JSONata" and states[name]["Type"] in {"Pass", "Wait"}
            for counter in changed_numbers(
                RUN_INPUT, evaluate_jsonata(deployed[name]["Output"], RUN_INPUT, CONTEXT)
            )
        }
        # ... and what its Choice states read
        compared = {
            read
            for name in loop
            if states[name]["Type"] == "Choice"
            for rule in states[name]["Choices"]
            for read in read_by(rule)
        }
        # Then at least one counter is both advanced and compared inside the loop
        assert advanced & compared, sorted(loop)


def test_no_poll_count_cuts_a_start_or_a_drain_short(states: dict[str, Any]) -> None:
    # Given every rule that leads to a timeout failure
    timeouts = {"Model Start Timed Out", "Run Timed Out", "Consumer Not Enabled"}
    for name, state in states.items():
        for rule in state.get("Choices", []):
            if rule["Next"] not in timeouts:
                continue
            # Then it compares elapsed time with a deadline, never how many polls were made
            assert "$.clock.elapsedSeconds" in read_by(rule), (name, rule["Next"])
            assert "$.clock.polls" not in read_by(rule), (name, rule["Next"])


def test_the_longest_allowed_run_stays_inside_the_execution_history(definition: dict[str, Any]) -> None:
    # Given the poll loop as deployed: its wait ticks the clock (a second per poll plus the interval, which
    # doubles as the run ages), and the history events of one poll, the states from the wait back to it
    body = definition["States"][BODY]["Branches"][0]["States"]
    edges = graph({"States": body})
    (after_wait,) = edges.successors(POLL_LOOP_WAIT)
    poll = nx.shortest_path(edges, after_wait, POLL_LOOP_WAIT)
    per_poll = sum(EVENTS_PER_STATE.get(body[name]["Type"], EVENTS_PER_OTHER_STATE) for name in poll)
    tick = deployed_states()[POLL_LOOP_WAIT]["Output"]
    # When a run polls every second for the longest start and drain the template allows
    longest_start, longest_drain = (
        int(load_template(TEMPLATE_PATH)["Parameters"][name]["MaxValue"])
        for name in ("ModelStartTimeoutMinutes", "MaxRunMinutes")
    )
    run = {**RUN_INPUT, "clock": {**RUN_INPUT["clock"], "intervalSeconds": 1}}
    polls = 0
    while run["clock"]["elapsedSeconds"] < (longest_start + longest_drain) * 60:
        run = evaluate_jsonata(tick, run, CONTEXT)
        polls += 1
    # Then the whole run, switch-off included, stays inside the history quota
    others = sum(
        EVENTS_PER_STATE.get(state["Type"], EVENTS_PER_OTHER_STATE) for state in definition["States"].values()
    )
    consumer_checks = 120 * 3 * EVENTS_PER_OTHER_STATE + 120 * 5
    # and a model that refuses its stop for the longest start the template allows
    top = definition["States"]
    stop_loop = nx.shortest_path(graph(definition), "Wait To Stop Again", "Stop Model?")
    per_refusal = sum(EVENTS_PER_STATE.get(top[name]["Type"], EVENTS_PER_OTHER_STATE) for name in stop_loop)
    refused_stops = longest_start * 60 // top["Wait To Stop Again"]["Seconds"] * per_refusal
    assert polls * per_poll + others + consumer_checks + refused_stops < HISTORY_QUOTA_EVENTS, polls


def test_the_poll_interval_doubles_when_the_cost_model_says_it_does() -> None:
    # Given the clock the deployed run starts with, the tick of its poll loop and the planner's poll waits
    from labelbatch.planning.batch_run import SLOWER_AFTER_POLLS, SLOWER_EVERY_POLLS, poll_wait

    tick = deployed_states()[POLL_LOOP_WAIT]["Output"]
    run = RUN_INPUT
    base = run["clock"]["intervalSeconds"]
    # When the run polls through four doublings, then each wait is the one the planner's simulation waits
    for polls_done in range(SLOWER_AFTER_POLLS + 4 * SLOWER_EVERY_POLLS):
        assert run["clock"]["intervalSeconds"] == poll_wait(base, polls_done), polls_done
        run = evaluate_jsonata(tick, run, CONTEXT)


@pytest.mark.parametrize(
    ("parameters", "model", "consumer_concurrency"),
    [
        ({"TpsPerInferenceUnit": "5"}, {"MinInferenceUnits": 1}, 5),
        ({"TpsPerInferenceUnit": "5"}, {"MinInferenceUnits": 3}, 15),
        # Auto-scaling: sized for the most units the model may reach
        (
            {"TpsPerInferenceUnit": "5", "MaxInferenceUnits": "4"},
            {"MinInferenceUnits": 2, "MaxInferenceUnits": 4},
            20,
        ),
        # At most what an event source mapping allows
        ({"TpsPerInferenceUnit": "999"}, {"MinInferenceUnits": 2}, 1000),
        ({"TpsPerInferenceUnit": "5", "ConsumerMaxConcurrency": "12"}, {"MinInferenceUnits": 3}, 12),
    ],
)
def test_the_consumer_gets_one_invocation_per_call_a_second_the_model_serves(
    parameters: dict[str, str], model: dict[str, int], consumer_concurrency: int
) -> None:
    # Each invocation starts at most one call a second (pacing.py proves why that never overruns the model),
    # so the run gives the consumer TpsPerInferenceUnit invocations per unit of the model it found RUNNING.
    from analyze_image.pacing import CALL_INTERVAL_SECONDS

    assert CALL_INTERVAL_SECONDS > 1
    definition = deployed_definition(parameters)
    running = {**run_input(definition), "model": {"descriptions": [{"Status": "RUNNING", **model}]}}
    recorded = evaluate_jsonata(
        deployed_states(definition)["Record Model Running"]["Output"], running, CONTEXT
    )
    assert recorded["drain"]["consumerConcurrency"] == consumer_concurrency
    assert recorded["drain"]["inferenceUnits"] == model["MinInferenceUnits"]


@pytest.mark.parametrize(
    ("parameters", "waiting", "started_with"),
    [
        ({}, 100_000, {"MinInferenceUnits": 1}),
        (
            {"MinInferenceUnits": "2", "MaxInferenceUnits": "6"},
            100_000,
            {"MinInferenceUnits": 2, "MaxInferenceUnits": 6},
        ),
        # Units from the backlog: 5 calls a second per unit for 10 minutes is 3,000 images a unit
        (DRAIN_TARGET, 1, {"MinInferenceUnits": 1, "MaxInferenceUnits": 4}),
        (DRAIN_TARGET, 3_000, {"MinInferenceUnits": 1, "MaxInferenceUnits": 4}),
        (DRAIN_TARGET, 3_001, {"MinInferenceUnits": 2, "MaxInferenceUnits": 4}),
        (DRAIN_TARGET, 9_000, {"MinInferenceUnits": 3, "MaxInferenceUnits": 4}),
        (DRAIN_TARGET, 100_000, {"MinInferenceUnits": 4, "MaxInferenceUnits": 4}),
        ({**DRAIN_TARGET, "MinInferenceUnits": "2"}, 1, {"MinInferenceUnits": 2, "MaxInferenceUnits": 4}),
    ],
)
def test_the_model_starts_with_the_units_its_settings_and_backlog_ask_for(
    parameters: dict[str, str], waiting: int, started_with: dict[str, int]
) -> None:
    definition = deployed_definition(parameters)
    arguments = evaluate_jsonata(
        deployed_states(definition)["Start Model"]["Arguments"], run_input(definition, waiting)
    )
    assert arguments == {"ProjectVersionArn": EXAMPLE_PROJECT_VERSION_ARN, **started_with}


# What each SDK call the definition reads from always returns (AWS's API references): a ResultSelector that
# reads anything else could meet an answer without it, which fails the run with States.Runtime, an error no
# Catch of States.ALL catches.
ALWAYS_RETURNED = {
    "sqs:getQueueAttributes": {"Attributes"},
    "rekognition:describeProjectVersions": {"ProjectVersionDescriptions"},
    "lambda:getEventSourceMapping": {"State"},
    "ssm:getParameter": {"Parameter"},
}
DESCRIPTION = "$.model.descriptions[0]"


def test_result_selectors_read_only_what_aws_always_returns(states: dict[str, Any]) -> None:
    for name, state in states.items():
        if "ResultSelector" not in state or state["Type"] != "Task":
            continue
        operation = state["Resource"].removeprefix("arn:aws:states:::aws-sdk:")
        read = {
            member
            for key, value in state["ResultSelector"].items()
            if key.endswith(".$")
            for member in re.findall(r"\$\.(\w+)", value)
        }
        assert read <= ALWAYS_RETURNED.get(operation, set()), name


def test_the_model_description_is_read_only_where_a_rule_made_sure_it_exists(states: dict[str, Any]) -> None:
    # DescribeProjectVersions answers an empty list for a version the project does not have. A JSONata rule
    # reads a missing Status as no match; a JSONPath state that reads the description (a failure's cause)
    # fails the run with States.Runtime, which no Catch catches, if it is missing.
    readers = {
        name
        for name, state in states.items()
        if state["Type"] in ("Pass", "Fail")
        and state.get("QueryLanguage") != "JSONata"
        and "$.model.descriptions[0]" in json.dumps(state)
    }
    assert readers
    status = re.escape("$states.input.model.descriptions[0].Status")
    for name, state in states.items():
        # Then each is reached only through a rule that compares the Status with a value, which an absent
        # Status never satisfies (JSONata compares undefined as neither equal nor unequal)
        for rule in state.get("Choices", []):
            if rule["Next"] in readers:
                assert re.search(rf"(?<!\$exists\(){status} (=|!=|in) ", rule["Condition"]), (name, rule)
        assert not readers & {state.get("Next"), state.get("Default")}, name
