"""The machinery of docs/RELIABILITY.md: one scenario test per row, and a stale table that fails the suite."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from reliability import table
from reliability.table import SCENARIOS, Row, record_row, render, settle_table

HERE = Path(__file__).parent


def scenario_tests() -> list[str]:
    """The test functions that record a row (they take the `record` fixture), across the suite's modules."""
    found = []
    for module in sorted(HERE.glob("test_reliability_*.py")):
        for node in ast.parse(module.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and "record" in [
                argument.arg for argument in node.args.args
            ]:
                found.append(node.name)
    return found


def rows() -> dict[str, Row]:
    return {
        spec.id: Row(spec.id, "SUCCEEDED processed", 2, 1, 1, 0, "STOPPED", "Disabled") for spec in SCENARIOS
    }


def test_every_row_of_the_table_has_exactly_one_scenario_test() -> None:
    # Given the scenario tests of the suite
    tests = scenario_tests()

    # Then each is one row of the table and each row has its test, once
    assert sorted(tests) == sorted(spec.test for spec in SCENARIOS)
    assert len(set(tests)) == len(tests)
    assert len({spec.id for spec in SCENARIOS}) == len(SCENARIOS)


def test_the_document_lists_every_scenario_in_order() -> None:
    # When the document is rendered
    document = render(rows(), "reduced")

    # Then it has one table line per scenario, in the registry's order, and no placeholder is left
    lines = [line for line in document.splitlines() if line.startswith("| ") and "---" not in line]
    assert [line.split(" | ")[0].removeprefix("| ") for line in lines[1:]] == [
        spec.title for spec in SCENARIOS
    ]
    assert "$" not in document
    assert "**reduced** mode" in document


def test_a_stale_table_fails_and_a_current_one_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given every row recorded, and a committed document made from them
    monkeypatch.delenv(table.WRITE_VARIABLE, raising=False)
    document = tmp_path / "RELIABILITY.md"
    monkeypatch.setattr(table, "DOCUMENT", document)
    monkeypatch.setattr(table, "REPOSITORY", tmp_path)
    recorded = rows()
    for row in recorded.values():
        record_row(tmp_path / "rows", row)
    document.write_text(render(recorded, "reduced"), encoding="utf-8")

    # When the table is current, settling it passes
    assert settle_table(tmp_path / "rows", "reduced") == document

    # When one scenario's outcome changes, settling it fails
    changed = replace(recorded[SCENARIOS[0].id], results_ok=2)
    record_row(tmp_path / "rows", changed)
    with pytest.raises(AssertionError, match="is stale"):
        settle_table(tmp_path / "rows", "reduced")

    # And with LABELBATCH_RELIABILITY_WRITE=1 it rewrites the document instead
    monkeypatch.setenv(table.WRITE_VARIABLE, "1")
    settle_table(tmp_path / "rows", "reduced")
    assert "| 2 | 2 | 1 | 0 |" in document.read_text(encoding="utf-8")


def test_no_table_is_settled_while_rows_are_missing(tmp_path: Path) -> None:
    # Given every row but one
    for row in list(rows().values())[1:]:
        record_row(tmp_path, row)

    # Then nothing is compared or written yet
    assert settle_table(tmp_path, "reduced") is None
