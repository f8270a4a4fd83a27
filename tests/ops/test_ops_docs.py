"""docs/OPERATIONS.md documents every field of every --json answer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, is_typeddict

import pytest

from labelbatch.ops import annotate, backfill, queues, redrive, results, runs, schedule, status, stop

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "OPERATIONS.md"
ANSWERS: tuple[Any, ...] = (
    status.StackStatus,
    status.ModelState,
    queues.QueueCounts,
    status.ConsumerState,
    schedule.ScheduleState,
    status.MarkerState,
    status.Spending,
    runs.RunRecord,
    runs.RunList,
    runs.RunDetail,
    runs.TimelineStep,
    runs.StateVisit,
    runs.RunFailure,
    runs.StartedRun,
    runs.RunProgress,
    backfill.BackfillReport,
    redrive.RedriveReport,
    redrive.DeadLetter,
    results.ResultsReport,
    results.ResultEntry,
    results.Label,
    annotate.AnnotateReport,
    annotate.AnnotatedImage,
    stop.StopReport,
    stop.Change,
)


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda answer: answer.__name__)
def test_every_field_of_every_answer_is_in_the_runbooks_json_shapes(answer: Any) -> None:
    shapes = RUNBOOK.read_text(encoding="utf-8").split("## JSON shapes", 1)[1]
    assert is_typeddict(answer)

    undocumented = [field for field in answer.__annotations__ if not re.search(rf"\b{field}\b", shapes)]

    assert undocumented == []
