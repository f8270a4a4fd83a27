"""docs/RELIABILITY.md: the scenarios of issue 4, and the table the suite regenerates from their outcomes.

Every scenario test records one row (counts and states only, never timings, so a run reproduces the table
exactly). The rows go to one file each in a directory shared by the pytest-xdist workers of the session; the
test whose row completes the set renders the document and compares it with the committed one: a stale table
fails that test, unless LABELBATCH_RELIABILITY_WRITE=1 asks for the file to be rewritten. The committed table
is the reduced one (what `make test` runs); a full run renders its table next to the rows instead.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template

REPOSITORY = Path(__file__).resolve().parents[2]
DOCUMENT = REPOSITORY / "docs" / "RELIABILITY.md"
# The document around the table: edit the words there, the suite fills in the mode and the rows.
TEMPLATE = Path(__file__).with_name("RELIABILITY.template.md")
WRITE_VARIABLE = "LABELBATCH_RELIABILITY_WRITE"
MODE_VARIABLE = "LABELBATCH_RELIABILITY"
INVARIANTS = "1 2 3 4 5"


@dataclass(frozen=True)
class Sizes:
    mode: str
    throttled_images: int
    transient_images: int
    partial_failure_images: int
    overrun_images: int


SIZES = {
    "reduced": Sizes(
        "reduced", throttled_images=60, transient_images=60, partial_failure_images=20, overrun_images=20
    ),
    "full": Sizes(
        "full", throttled_images=1000, transient_images=300, partial_failure_images=200, overrun_images=200
    ),
}


def describe(sizes: Sizes) -> str:
    return (
        f"{sizes.throttled_images:,} images for throttling, {sizes.transient_images:,} for transient errors, "
        f"{sizes.partial_failure_images:,} for the partial batch failure and "
        f"{sizes.overrun_images:,} for the overrun model"
    )


@dataclass(frozen=True)
class ScenarioSpec:
    id: str
    test: str
    """The name of the test function that plays the scenario."""
    title: str
    fault: str


# The table's rows, in its order; each names the one test that plays it.
SCENARIOS: tuple[ScenarioSpec, ...] = (
    ScenarioSpec(
        "start-fails-once",
        "test_a_model_start_that_fails_once_is_made_up_by_the_next_run",
        "Model start fails once",
        "the first StartProjectVersion ends in FAILED",
    ),
    ScenarioSpec(
        "start-never-completes",
        "test_a_model_start_that_never_completes_times_out_and_is_stopped",
        "Model start never completes",
        "the model stays STARTING; ModelStartTimeoutMinutes 1",
    ),
    ScenarioSpec(
        "operator-stops-model",
        "test_a_model_stopped_by_an_operator_mid_drain_fails_the_run_and_loses_nothing",
        "Operator stops the model mid-drain",
        "StopProjectVersion from outside while images are being analyzed",
    ),
    ScenarioSpec(
        "throttling",
        "test_a_saturated_model_that_also_throttles_30_percent_still_answers_every_image",
        "Throttling",
        "capacity saturated and 30% of calls throttled (ProvisionedThroughputExceeded)",
    ),
    ScenarioSpec(
        "transient-errors",
        "test_transient_5xx_on_10_percent_of_calls_are_absorbed",
        "Transient Rekognition 5xx",
        "10% of calls answer InternalServerError",
    ),
    ScenarioSpec(
        "partial-batch-failure",
        "test_records_that_raise_are_retried_alone",
        "Handler raises on some records",
        "70% of calls answer 5xx until images fail three tries; then none (later runs retry them)",
    ),
    ScenarioSpec(
        "unusable-messages",
        "test_unusable_messages_are_dead_lettered_with_their_reason_and_never_answered",
        "Unusable messages",
        "a body that is not JSON, a notification for another bucket, one outside InputPrefix",
    ),
    ScenarioSpec(
        "image-deleted",
        "test_an_image_deleted_before_analysis_gets_an_error_result",
        "Image deleted before analysis",
        "before the run: one image deleted for good (every version), one hidden by a delete marker",
    ),
    ScenarioSpec(
        "slow-analysis",
        "test_a_message_delivered_twice_by_slow_analysis_keeps_one_consistent_result",
        "Slow analysis beyond the visibility timeout",
        "analysis (8 s) slower than the queue's visibility timeout (shortened to 5 s)",
    ),
    ScenarioSpec(
        "overlapping-run",
        "test_a_run_started_while_another_runs_skips_and_touches_nothing",
        "Schedule fires during a run",
        "a second execution starts while the first one runs",
    ),
    ScenarioSpec(
        "execution-stopped",
        "test_a_run_stopped_from_outside_is_cleaned_up_by_the_reaper",
        "Execution stopped from outside",
        "StopExecution while the model runs and the consumer drains",
    ),
    ScenarioSpec(
        "execution-stopped-while-starting",
        "test_a_run_stopped_from_outside_while_the_model_starts_is_made_up_by_the_next_run",
        "Execution stopped while the model starts",
        "StopExecution before the consumer is on; the reaper leaves the model to the next run (images wait)",
    ),
    ScenarioSpec(
        "foreign-model",
        "test_the_reaper_leaves_alone_a_model_no_run_started",
        "Reaper meets a model it did not start",
        "the model started by an operator, marker none, queue empty",
    ),
    ScenarioSpec(
        "stale-marker",
        "test_the_reaper_leaves_alone_a_model_started_by_hand_after_a_dead_runs_start_failed",
        "Reaper meets a model started by hand after a dead run",
        "StopExecution while the model starts, the start then fails; an operator starts the model later",
    ),
    ScenarioSpec(
        "uploads-while-draining",
        "test_images_uploaded_while_a_run_drains_are_answered_in_that_run",
        "Images uploaded while a run drains",
        "a second wave of uploads once the model is RUNNING",
    ),
    ScenarioSpec(
        "poison-message",
        "test_a_poison_message_is_dead_lettered_at_once_and_keeps_no_model_running",
        "Poison message",
        "a message no retry can fix (not JSON) beside three images; MaxRunMinutes 1",
    ),
    ScenarioSpec(
        "image-keeps-failing",
        "test_an_image_that_keeps_failing_is_left_to_later_runs_then_dead_lettered",
        "An image that keeps failing",
        "every call for one image answers 5xx; RetryDelaySeconds 5",
    ),
    ScenarioSpec(
        "overrun-slow-model",
        "test_a_consumer_that_overruns_a_slow_model_still_answers_every_image_without_error",
        "Consumer overruns a slow model",
        "the model admits 2 calls/s at 200 ms; the consumer is paced for 20 (TpsPerInferenceUnit 20)",
    ),
    ScenarioSpec(
        "simultaneous-runs",
        "test_two_runs_started_at_the_same_instant_let_one_work_and_neither_fail",
        "Two runs start at the same instant",
        "two executions started together, which ListExecutions could not tell apart",
    ),
    ScenarioSpec(
        "reaper-during-run",
        "test_the_reaper_never_stops_a_model_a_live_run_uses",
        "Reaper ticks during a run",
        "the reaper invoked twice while a run drains, once with the queue reading empty",
    ),
    ScenarioSpec(
        "bad-files",
        "test_files_rekognition_refuses_get_an_error_result_each",
        "Bad inputs: files",
        "zero bytes, text as .jpg, truncated JPEG, PNG over 15 MB, over 4096 and under 64 px, "
        "GIF/WebP/TIFF, upper-case extensions",
    ),
    ScenarioSpec(
        "awkward-keys",
        "test_awkward_keys_each_get_their_result",
        "Bad inputs: keys",
        "spaces, +, %, quotes, emoji and non-ASCII letters, a 1,000-byte key, 40 nested prefixes",
    ),
)
SPEC_BY_TEST = {spec.test: spec for spec in SCENARIOS}


@dataclass(frozen=True)
class Row:
    scenario: str
    runs: str
    images_in: int
    results_ok: int
    results_error: int
    dead_lettered: int
    model_after: str
    consumer_after: str
    invariants: str = INVARIANTS


HEADER = (
    "| Scenario | Fault injected | Runs (status, outcome or error) | Images in | Results ok | Results error "
    "| Dead-lettered | Model after | Consumer after | Invariants held |\n"
    "| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |"
)


def record_row(directory: Path, row: Row) -> None:
    """Write one scenario's row where every worker of the session finds it (atomically: write, rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{row.scenario}.json.partial"
    partial.write_text(json.dumps(asdict(row), ensure_ascii=False, sort_keys=True), encoding="utf-8")
    partial.replace(directory / f"{row.scenario}.json")


def recorded_rows(directory: Path) -> dict[str, Row]:
    return {
        path.stem: Row(**json.loads(path.read_text(encoding="utf-8"))) for path in directory.glob("*.json")
    }


def render(rows: dict[str, Row], mode: str) -> str:
    lines = [HEADER]
    for spec in SCENARIOS:
        row = rows[spec.id]
        cells = (
            spec.title,
            spec.fault,
            row.runs,
            row.images_in,
            row.results_ok,
            row.results_error,
            row.dead_lettered,
            row.model_after,
            row.consumer_after,
            row.invariants,
        )
        lines.append("| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |")
    text = TEMPLATE.read_text(encoding="utf-8")
    return Template(text).substitute(
        mode=mode,
        write=WRITE_VARIABLE,
        variable=MODE_VARIABLE,
        reduced=describe(SIZES["reduced"]),
        full=describe(SIZES["full"]),
        table="\n".join(lines),
    )


def settle_table(directory: Path, mode: str) -> Path | None:
    """Once every scenario has its row: compare the document with the committed one (reduced mode), or
    rewrite it (LABELBATCH_RELIABILITY_WRITE=1); a full run writes its table beside the rows. Returns the path
    written, None while rows are missing (another worker, a failed scenario or a partial selection)."""
    rows = recorded_rows(directory)
    if not {spec.id for spec in SCENARIOS} <= set(rows):
        return None
    document = render(rows, mode)
    if mode != "reduced":
        target = directory / f"RELIABILITY.{mode}.md"
        target.write_text(document, encoding="utf-8")
        return target
    if os.environ.get(WRITE_VARIABLE) == "1":
        DOCUMENT.write_text(document, encoding="utf-8")
        return DOCUMENT
    committed = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else ""
    assert committed == document, (
        f"{DOCUMENT.relative_to(REPOSITORY)} is stale: the scenarios now give the table below. Rerun the "
        f"suite with {WRITE_VARIABLE}=1 to rewrite it, and review the difference.\n\n{document}"
    )
    return DOCUMENT
