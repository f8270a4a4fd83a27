"""The `labelbatch` command: the local stack and the demo."""

from __future__ import annotations

import faulthandler
import json
import logging
import signal
import threading
from pathlib import Path

import click
from rich.console import Console

from labelbatch.demo import render_summary, run_demo
from labelbatch.local.stack import LocalStack, LocalStackConfig
from labelbatch.planning.cli import plan

# Past this, a stop that has not finished prints every thread's stack to stderr.
_SLOW_STOP_SECONDS = 10


@click.group()
def main() -> None:
    """labelbatch: Rekognition Custom Labels batch inference, the model running only while there is work."""


@main.group()
def local() -> None:
    """The local stack: the whole pipeline on one machine, no AWS account."""


@local.command("up")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=4566, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port."
)
@click.option(
    "--poll-seconds", default=2, show_default=True, type=click.IntRange(1, 900), help="PollIntervalSeconds."
)
@click.option(
    "--schedule-every",
    type=click.FloatRange(min=0.1),
    help="Fire every schedule this often instead of at the template's rate.",
)
@click.option("--no-schedule", is_flag=True, help="Never fire the schedules; start runs yourself.")
def local_up(
    host: str, port: int, poll_seconds: int, schedule_every: float | None, no_schedule: bool
) -> None:
    """Serve S3, SQS, Lambda, Step Functions, ... and Rekognition Custom Labels on one endpoint."""
    if schedule_every is not None and no_schedule:
        raise click.UsageError("--schedule-every and --no-schedule exclude each other")
    logging.basicConfig(level=logging.WARNING)
    config = LocalStackConfig(
        host=host,
        port=port,
        poll_seconds=poll_seconds,
        schedule_every=schedule_every,
        schedule=not no_schedule,
    )
    stopped = threading.Event()
    # Handled explicitly, SIGINT included: a process started in the background by a shell inherits SIGINT
    # ignored, and Ctrl-C (or a supervisor's SIGINT) would then never stop it.
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stopped.set())
    with LocalStack(config) as stack:
        click.echo(
            json.dumps({"endpoint": stack.endpoint_url, "region": config.region, "outputs": stack.outputs}),
        )
        stopped.wait()
        # Stopping takes a second or two. Should it ever hang, stderr shows where each thread waits.
        faulthandler.dump_traceback_later(_SLOW_STOP_SECONDS)
    faulthandler.cancel_dump_traceback_later()


@main.command()
@click.option(
    "--images",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Upload the PNG and JPEG files under this folder instead of generated samples.",
)
@click.option(
    "--count", default=12, show_default=True, type=click.IntRange(1, 2000), help="Sample images to generate."
)
@click.option(
    "--out", default=Path("demo-results"), show_default=True, type=click.Path(file_okay=False, path_type=Path)
)
def demo(images: Path | None, count: int, out: Path) -> None:
    """Run one batch on the local stack: images in, one JSON result (and an annotated PNG) out per image."""
    console = Console()
    summary = run_demo(images, count, out, console)
    render_summary(summary, out, console)
    if not summary.complete:
        raise SystemExit(1)


main.add_command(plan)
