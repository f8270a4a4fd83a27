"""The step table of `runs show`: every state of the definition, and only those, mapped to a README step."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from labelbatch.ops.steps import STEP_OF_STATE, STEP_TITLES

REPOSITORY = Path(__file__).resolve().parents[2]
DEFINITION = REPOSITORY / "statemachine" / "batch_run.asl.json"
README = REPOSITORY / "README.md"


def state_names(states: dict[str, Any]) -> set[str]:
    """Every state, those inside Parallel branches and Map processors included."""
    names = set(states)
    for state in states.values():
        for branch in state.get("Branches", []):
            names |= state_names(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            names |= state_names(processor["States"])
    return names


def test_every_state_of_the_definition_has_a_step() -> None:
    definition = json.loads(DEFINITION.read_text(encoding="utf-8"))

    unmapped = state_names(definition["States"]) - set(STEP_OF_STATE)

    assert unmapped == set(), "add these states to STEP_OF_STATE in src/labelbatch/ops/steps.py"


def test_the_step_table_names_no_state_the_definition_lacks() -> None:
    definition = json.loads(DEFINITION.read_text(encoding="utf-8"))

    stale = set(STEP_OF_STATE) - state_names(definition["States"])

    assert stale == set(), "remove these states from STEP_OF_STATE in src/labelbatch/ops/steps.py"


def test_the_steps_are_the_numbered_steps_of_the_readmes_how_it_works() -> None:
    section = README.read_text(encoding="utf-8").split("## How it works", 1)[1].split("\n## ", 1)[0]

    numbered = [int(number) for number in re.findall(r"^(\d+)\. ", section, flags=re.MULTILINE)]

    assert sorted(STEP_TITLES) == numbered
    assert set(STEP_OF_STATE.values()) == set(STEP_TITLES)
