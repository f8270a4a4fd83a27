"""`labelbatch demo`: the main job on the local stack, sample images in, results out."""

from __future__ import annotations

import json
import mimetypes
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from analyze_image import result
from labelbatch.images import annotate, generate_sample_images
from labelbatch.local.stack import LocalStack, LocalStackConfig

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


@dataclass(frozen=True)
class DemoSummary:
    images: int
    results_ok: int
    results_error: int
    missing: list[str]
    labels: Counter[str]
    model_running_seconds: float
    execution_status: str
    outcome: str | None
    state_path: list[str]

    @property
    def complete(self) -> bool:
        return not self.missing and self.results_ok + self.results_error == self.images


def run_demo(images: Path | None, count: int, out: Path, console: Console) -> DemoSummary:
    config = LocalStackConfig(
        port=0, schedule=False, poll_seconds=1, function_log_level="WARNING", function_metrics=False
    )
    with tempfile.TemporaryDirectory(prefix="labelbatch-demo-") as scratch:
        source = images or Path(scratch)
        if images is None:
            generate_sample_images(source, count)
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SystemExit(f"no PNG or JPEG images under {source}")
        with LocalStack(config) as stack:
            console.print(f"local stack at {stack.endpoint_url} (stack {config.stack_name})")
            return _run(stack, source, files, out, console)


def _run(stack: LocalStack, source: Path, files: list[Path], out: Path, console: Console) -> DemoSummary:
    outputs = stack.outputs
    bucket, input_prefix, results_prefix = (
        outputs["ImageBucketName"],
        outputs["InputPrefix"],
        outputs["ResultsPrefix"],
    )
    s3, sfn = stack.client("s3"), stack.client("stepfunctions")
    image_keys = []
    for path in files:
        key = input_prefix + path.relative_to(source).as_posix()
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)
        image_keys.append(key)
    console.print(f"uploaded {len(image_keys)} images to s3://{bucket}/{input_prefix}")

    expected = {
        key: result.result_key(key, input_prefix=input_prefix, results_prefix=results_prefix)
        for key in image_keys
    }
    execution_arn = stack.start_batch_run()
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            status = sfn.describe_execution(executionArn=execution_arn)
            done = _count_objects(s3, bucket, results_prefix)
            live.update(_progress(done, len(image_keys), stack, status["status"]))
            if status["status"] != "RUNNING":
                break
            time.sleep(0.25)

    documents = _download(s3, bucket, expected, out)
    _annotate(s3, bucket, documents, expected, out)
    history = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    labels: Counter[str] = Counter(
        label["Name"] for document in documents.values() for label in document.get("customLabels") or []
    )
    assert stack.emulator is not None
    usage = stack.emulator.model_report()["usage"]
    return DemoSummary(
        images=len(image_keys),
        results_ok=sum(1 for d in documents.values() if d["status"] == "ok"),
        results_error=sum(1 for d in documents.values() if d["status"] == "error"),
        missing=[key for key in image_keys if key not in documents],
        labels=labels,
        model_running_seconds=float(usage["runningSeconds"]),
        execution_status=status["status"],
        outcome=json.loads(status["output"])["outcome"] if status.get("output") else None,
        state_path=_state_path(history),
    )


def _count_objects(s3: Any, bucket: str, prefix: str) -> int:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sum(page.get("KeyCount", 0) for page in pages)


def _progress(done: int, total: int, stack: LocalStack, run_status: str) -> Table:
    assert stack.emulator is not None
    table = Table.grid(padding=(0, 2))
    table.add_row("results", f"{done} of {total}")
    table.add_row("model", str(stack.emulator.model_report()["status"]))
    table.add_row("batch run", run_status)
    return table


def _download(s3: Any, bucket: str, expected: dict[str, str], out: Path) -> dict[str, dict[str, Any]]:
    """Every result document that exists, by image key; each is also written under `out`."""
    documents: dict[str, dict[str, Any]] = {}
    for image_key, result_key in expected.items():
        try:
            body = s3.get_object(Bucket=bucket, Key=result_key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            continue
        target = out / result_key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        documents[image_key] = json.loads(body)
    return documents


def _annotate(
    s3: Any, bucket: str, documents: dict[str, dict[str, Any]], expected: dict[str, str], out: Path
) -> None:
    for image_key, document in documents.items():
        if document["status"] != "ok":
            continue
        image = s3.get_object(Bucket=bucket, Key=image_key)["Body"].read()
        target = out / (expected[image_key].removesuffix(".json") + ".annotated.png")
        target.write_bytes(annotate(image, document["customLabels"]))


def _state_path(history: list[dict[str, Any]]) -> list[str]:
    """The states the run entered, in order, with loop iterations collapsed to a count."""
    path: list[str] = []
    visits: Counter[str] = Counter()
    for event in history:
        details = event.get("stateEnteredEventDetails")
        if details is None:
            continue
        name = details["name"]
        visits[name] += 1
        if visits[name] == 1:
            path.append(name)
    return [f"{name} x{visits[name]}" if visits[name] > 1 else name for name in path]


def render_summary(summary: DemoSummary, out: Path, console: Console) -> None:
    table = Table(title="labelbatch demo", show_header=False)
    table.add_row("images uploaded", str(summary.images))
    table.add_row("results ok", str(summary.results_ok))
    table.add_row("results error", str(summary.results_error))
    table.add_row("images without a result", str(len(summary.missing)))
    table.add_row("labels found", ", ".join(f"{n} x{c}" for n, c in summary.labels.most_common()) or "none")
    table.add_row("model running seconds", f"{summary.model_running_seconds:.1f}")
    table.add_row("execution", f"{summary.execution_status} ({summary.outcome or 'no output'})")
    table.add_row("results in", str(out))
    console.print(table)
    console.print("state path: " + " -> ".join(summary.state_path))
    for key in summary.missing:
        console.print(f"[red]no result for {key}[/red]")
