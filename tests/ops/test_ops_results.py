"""`labelbatch results`: result documents by image key or by time written, shown or downloaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e.stack_helpers import StackUnderTest
from labelbatch.images import SampleImage
from ops.conftest import Operator

ENTRY_KEYS = {"imageKey", "resultKey", "writtenAt", "status", "labels", "error", "downloadedTo", "document"}


@pytest.fixture
def analyzed(stack: StackUnderTest, samples: list[SampleImage]) -> dict[str, SampleImage]:
    """Three sample images, each with its result."""
    uploaded = stack.upload_samples(samples[:3])
    assert stack.run_to_end().status == "SUCCEEDED"
    return uploaded


def test_results_by_image_key_show_labels_and_download_the_documents(
    operator: Operator, stack: StackUnderTest, analyzed: dict[str, SampleImage], tmp_path: Path
) -> None:
    # Given two of the images, one named with InputPrefix and one without
    first, second, _ = sorted(analyzed)
    relative = second.removeprefix(stack.input_prefix)

    # When the operator asks for their results and downloads them
    answer = operator.json("results", first, relative, "--download", str(tmp_path / "out"))

    # Then both documents are there, as stored, with their labels
    assert answer["missing"] == []
    entries = {entry["imageKey"]: entry for entry in answer["results"]}
    assert sorted(entries) == [first, second]
    documents = stack.result_documents()
    for image_key, entry in entries.items():
        assert set(entry) == ENTRY_KEYS
        result_key = stack.expected_result_key(image_key)
        assert (entry["resultKey"], entry["status"], entry["error"]) == (result_key, "ok", None)
        assert entry["document"] == documents[result_key]
        assert sorted(label["name"] for label in entry["labels"]) == sorted(
            box.name for box in analyzed[image_key].boxes
        )
        saved = tmp_path / "out" / result_key
        assert entry["downloadedTo"] == str(saved)
        assert json.loads(saved.read_text(encoding="utf-8")) == documents[result_key]


def test_results_since_a_time_or_a_duration(operator: Operator, analyzed: dict[str, SampleImage]) -> None:
    # When the operator asks for the last hour's results, and for those after a time still to come
    last_hour = operator.json("results", "--since", "1h")
    future = operator.json("results", "--since", "2100-01-01T00:00:00Z")

    # Then the first lists every result, the second none
    assert sorted(entry["imageKey"] for entry in last_hour["results"]) == sorted(analyzed)
    assert future == {"results": [], "missing": []}


def test_an_image_without_a_result_is_named_and_exits_1(
    operator: Operator, stack: StackUnderTest, analyzed: dict[str, SampleImage]
) -> None:
    # When the operator asks for an analyzed image and one never uploaded
    known = sorted(analyzed)[0]
    result = operator.run("results", known, "nowhere.png", "--json")

    # Then the known one is answered, the other named, exit 1
    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert [entry["imageKey"] for entry in answer["results"]] == [known]
    assert answer["missing"] == ["nowhere.png"]
    assert result.stderr == (
        "error: No result for nowhere.png: check the keys (`labelbatch backfill --dry-run` lists images "
        "without one).\n"
    )


def test_the_human_results_table_names_each_image_and_its_labels(
    operator: Operator, analyzed: dict[str, SampleImage]
) -> None:
    result = operator.run("results", "--since", "30m")

    assert result.exit_code == 0, result.stderr
    assert "3 result(s)" in result.stdout
    for image_key, sample in analyzed.items():
        assert image_key in result.stdout
        for box in sample.boxes:
            assert box.name in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((), "Error: Name image keys (images/cat.jpg), or pass --since WHEN (for example --since 1h)."),
        (
            ("--since", "yesterday"),
            "Error: Invalid value for '--since': 'yesterday' is not a time: give ISO-8601 "
            "(2026-11-22T10:00Z) or a duration back from now (30m, 1h, 2d).",
        ),
    ],
)
def test_usage_errors_exit_2_with_what_to_pass(
    operator: Operator, arguments: tuple[str, ...], message: str
) -> None:
    result = operator.run("results", *arguments)

    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == message
