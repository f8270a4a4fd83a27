"""The `labelbatch` command: operate a stack (deployed, or the local one), run the local stack, the demo.

Operations come from labelbatch.ops as plain data; this module only renders them: rich tables for people
(colour only on a terminal), the same data as JSON with --json. Errors are one sentence on stderr, never a
traceback. Exit codes: 0 done, 1 the thing asked for failed, 2 usage or target error, 130 stopped by Ctrl-C.
"""

from __future__ import annotations

import faulthandler
import functools
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from labelbatch.ops.errors import OpsError
from labelbatch.ops.model import PRICE_NOTE
from labelbatch.ops.target import LOCAL_ENDPOINT, Stack, open_stack
from labelbatch.planning.cli import plan
from labelbatch.planning.model import INFERENCE_UNIT_HOUR_PRICE_USD

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
DEBUG_VARIABLE = "LABELBATCH_DEBUG"
# Shown in `labelbatch --help` in this order; a command not listed here goes under "Other commands".
SECTIONS = (
    (
        "Operate a stack (a deployed one: --stack NAME; the local one: --local)",
        ("status", "runs", "run", "backfill", "redrive", "results", "annotate", "stop", "plan"),
    ),
    ("Try it on this machine", ("local", "demo")),
)
_LISTED_KEYS = 20
# Past this, a stop that has not finished prints every thread's stack to stderr.
_SLOW_STOP_SECONDS = 10

Command = TypeVar("Command", bound=Callable[..., Any])


class SectionedGroup(click.Group):
    """A group whose --help lists its commands in SECTIONS."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        ordered = [name for _, names in SECTIONS for name in names if name in self.commands]
        return ordered + sorted(set(self.commands) - set(ordered))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        listed: set[str] = set()
        for title, names in (*SECTIONS, ("Other commands", tuple(sorted(self.commands)))):
            rows = [
                (name, self.commands[name].get_short_help_str(limit=formatter.width))
                for name in names
                if name in self.commands and name not in listed
            ]
            listed.update(name for name, _ in rows)
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


@click.group(cls=SectionedGroup)
def main() -> None:
    """labelbatch: Rekognition Custom Labels batch inference, the model running only while there is work.

    Operate a deployed stack with --stack NAME (--region, --profile), the local stack with --local
    [ENDPOINT], or set LABELBATCH_STACK (or AWS_ENDPOINT_URL for the local stack). Every operation takes
    --json. The runbook is docs/OPERATIONS.md.
    """


# -- shared options and error handling ---------------------------------------------------------------------


def operation(function: Command) -> Command:
    """Target options and --json on a command; errors become one sentence and an exit code."""

    @click.option(
        "--stack", "stack_name", metavar="NAME", help="A deployed stack, by its CloudFormation name."
    )
    @click.option(
        "--local",
        "local_endpoint",
        is_flag=False,
        flag_value=LOCAL_ENDPOINT,
        default=None,
        metavar="[ENDPOINT]",
        help=f"The local stack (`labelbatch local up`), at {LOCAL_ENDPOINT} unless given.",
    )
    @click.option("--region", help="The deployed stack's region (default: your AWS configuration).")
    @click.option("--profile", help="The AWS profile to use for a deployed stack.")
    @click.option("--json", "as_json", is_flag=True, help="Answer in JSON (docs/OPERATIONS.md documents it).")
    @functools.wraps(function)
    def command(
        *args: Any,
        stack_name: str | None,
        local_endpoint: str | None,
        region: str | None,
        profile: str | None,
        as_json: bool,
        **kwargs: Any,
    ) -> None:
        context = click.get_current_context()
        if isinstance(context.command, click.Group) and context.invoked_subcommand is not None:
            # A group's own options (`runs --limit`) are for when it runs alone; the subcommand has its own.
            return
        output = Output(as_json)
        try:
            stack = open_stack(
                stack_name=stack_name, local_endpoint=local_endpoint, region=region, profile=profile
            )
            function(*args, stack=stack, output=output, **kwargs)
        except (click.ClickException, click.Abort):
            # Usage errors and a declined confirmation: click prints them and exits 2 and 1.
            raise
        except OpsError as exc:
            output.fail(str(exc), exc.exit_code)
        except EndpointConnectionError as exc:
            output.fail(
                f"Lost the connection to {exc.kwargs.get('endpoint_url')}: is the stack's endpoint still up "
                "(for the local stack: is `labelbatch local up` still running)?",
                EXIT_FAILED,
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            output.fail(
                f"AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}. Check "
                "that your identity may operate this stack, then try again.",
                EXIT_FAILED,
            )
        except BotoCoreError as exc:
            output.fail(f"The AWS SDK failed: {exc}. Check your network and AWS configuration.", EXIT_FAILED)
        except KeyboardInterrupt:
            output.fail("Stopped by Ctrl-C.", EXIT_INTERRUPTED)
        except Exception as exc:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            output.fail(
                f"labelbatch failed unexpectedly ({type(exc).__name__}: {exc}). Run again with "
                f"{DEBUG_VARIABLE}=1 for the details, and report them.",
                EXIT_FAILED,
            )

    return command  # type: ignore[return-value]  # click's decorators keep the signature callers use


def unit_price_option(function: Command) -> Command:
    decorated: Command = click.option(
        "--unit-price",
        type=click.FloatRange(min=0),
        default=INFERENCE_UNIT_HOUR_PRICE_USD,
        show_default=True,
        help="Model price in USD per inference-unit hour (the default is the us-east-1 list price).",
    )(function)
    return decorated


class Output:
    """Where a command's answer goes: JSON or rich on stdout; errors and notes on stderr."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.console = Console(highlight=False)
        self.errors = Console(stderr=True, highlight=False)

    def json(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))

    def note(self, text: str) -> None:
        self.errors.print(text, markup=False, soft_wrap=True)

    def fail(self, sentence: str, exit_code: int) -> None:
        # One line whatever the width, and never read as markup: keys and ARNs may hold brackets.
        self.errors.print(Text.assemble(("error:", "red"), " ", sentence), soft_wrap=True)
        raise SystemExit(exit_code)


def _now() -> datetime:
    return datetime.now(UTC)


# -- status ------------------------------------------------------------------------------------------------


@main.command()
@operation
@unit_price_option
def status(stack: Stack, output: Output, unit_price: float) -> None:
    """The stack at a glance: model, queues, consumer, schedule, last run, spending.

    Is the model running and why, what waits, what the last run did, and whether money is spent now."""
    from labelbatch.ops.status import stack_status

    answer = stack_status(stack, unit_price=unit_price, now=_now())
    if output.as_json:
        output.json(answer)
        return
    model, queue, consumer, schedule, marker, run = (
        answer["model"],
        answer["queue"],
        answer["consumer"],
        answer["schedule"],
        answer["marker"],
        answer["run"],
    )
    table = Table(title=f"labelbatch: {answer['stack']}", show_header=False, title_justify="left", box=None)
    table.add_column(style="bold")
    table.add_column()
    units = f", {model['inferenceUnits']} inference unit(s)" if model["inferenceUnits"] else ""
    since = f", since {_time(model['since'])}" if model["since"] else ""
    owner = f", started by run {_name(model['startedByRun'])}" if model["startedByRun"] else ""
    table.add_row("Model", f"{_status_text(model['status'])}{units}{since}{owner}")
    table.add_row(
        "Image queue",
        f"{queue['waiting']} waiting ({queue['visible']} visible, {queue['inFlight']} in flight), "
        f"{queue['delayed']} delayed for a retry",
    )
    table.add_row(
        "Dead-letter queue", f"[red]{answer['deadLetters']}[/red]" if answer["deadLetters"] else "0"
    )
    concurrency = (
        f" (at most {consumer['maximumConcurrency']} at once)" if consumer["maximumConcurrency"] else ""
    )
    table.add_row("Consumer", f"{consumer['state']}{concurrency}")
    if schedule is None:
        table.add_row("Schedule", "none found for the state machine")
    else:
        next_fire = f", next at {_time(schedule['nextFireAt'])}" if schedule["nextFireAt"] else ""
        table.add_row(
            "Schedule", f"{schedule['state']} {schedule['expression']} ({schedule['timezone']}){next_fire}"
        )
    changed = f" (changed {_time(marker['changedAt'])})" if marker["changedAt"] else ""
    table.add_row("Start marker", f"{escape(_name(marker['value']))}{changed}")
    table.add_row("Last run", _run_line(run) if run else "none yet")
    table.add_row("Spending", escape(answer["spending"]["reason"]))
    output.console.print(table)


# -- runs --------------------------------------------------------------------------------------------------


@main.group(invoke_without_command=True)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 1000), help="How many runs.")
@operation
@unit_price_option
@click.pass_context
def runs(ctx: click.Context, stack: Stack, output: Output, limit: int, unit_price: float) -> None:
    """Recent batch runs, with model time and estimated cost.

    Each run's start, duration, outcome (or error), images waiting at its start, how long the model ran and
    what that cost (inference units x hours x --unit-price)."""
    if ctx.invoked_subcommand is not None:
        return
    from labelbatch.ops.runs import list_runs

    answer = list_runs(stack, limit=limit, unit_price=unit_price, now=_now())
    if output.as_json:
        output.json(answer)
        return
    if not answer["runs"]:
        output.console.print(f"No batch run of the {stack.description} yet (`labelbatch run` starts one).")
        return
    table = Table(title=f"Batch runs of the {stack.description}", title_justify="left")
    for column in (
        "Run",
        "Started",
        "Duration",
        "Outcome",
        "Waiting at start",
        "Model time",
        "Est. model cost",
    ):
        table.add_column(column, justify="right" if column in {"Duration", "Waiting at start"} else "left")
    for run in answer["runs"]:
        table.add_row(
            run["name"],
            _time(run["startedAt"]),
            _duration(run["durationSeconds"]),
            _outcome(run),
            "" if run["backlogAtStart"] is None else str(run["backlogAtStart"]),
            _model_time(run),
            _cost(run["modelCostUsd"]),
        )
    output.console.print(table)
    output.console.print(f"Costs at {unit_price:.2f} {PRICE_NOTE}.")


@runs.command("show")
@click.argument("run_name", metavar="NAME|ARN")
@operation
@unit_price_option
def runs_show(stack: Stack, output: Output, run_name: str, unit_price: float) -> None:
    """One run's timeline (the README's steps 1-4) and summary.

    The states it passed, grouped by step, with times; the errors met on the way; its summary."""
    from labelbatch.ops.runs import describe_run

    answer = describe_run(stack, run_name, unit_price=unit_price, now=_now())
    if output.as_json:
        output.json(answer)
        return
    run = answer["run"]
    output.console.print(_run_line(run))
    table = Table(title="Timeline", title_justify="left")
    for column in ("Step", "", "From", "To", "States (times entered)"):
        table.add_column(column)
    for step in answer["timeline"]:
        table.add_row(
            str(step["step"] or "?"),
            step["title"],
            _time(step["startedAt"]),
            _time(step["endedAt"]),
            ", ".join(
                f"{s['name']} x{s['entered']}" if s["entered"] > 1 else s["name"] for s in step["states"]
            ),
        )
    output.console.print(table)
    for failure in answer["failures"]:
        where = f" in {failure['state']}" if failure["state"] else ""
        output.console.print(
            f"[red]{escape(failure['error'])}[/red]{where} at {_time(failure['at'])}: "
            f"{escape(failure['cause'] or '')}"
        )
    output.console.print(
        "Summary: " + (escape(json.dumps(answer["summary"])) if answer["summary"] else "none (no output)")
    )


# -- run ---------------------------------------------------------------------------------------------------


@main.command("run")
@click.option("--wait", is_flag=True, help="Show progress until the run ends; exit 0 only if it SUCCEEDED.")
@click.option(
    "--interval",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.2),
    help="Seconds between updates.",
)
@operation
def run_now(stack: Stack, output: Output, wait: bool, interval: float) -> None:
    """Start a batch run now; --wait follows it to its end.

    The run starts as the schedule starts one, under a unique name. Ctrl-C stops the watching, not the run."""
    from labelbatch.ops.runs import start_run, watch_run

    started = start_run(stack, _now())
    if not wait:
        if output.as_json:
            output.json({"run": started, "progress": None})
        else:
            output.console.print(
                f"Started run {started['name']}. Follow it with `labelbatch runs show {started['name']}`."
            )
        return
    if not output.as_json:
        output.console.print(f"Started run {started['name']}.")
    last = None
    # Ctrl-C stops the watching even where SIGINT was inherited ignored (a shell's background job), as in
    # `local up`: Python then installs no KeyboardInterrupt of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if output.as_json or not output.console.is_terminal:
            *_, last = watch_run(stack, started["arn"], interval=interval)
        else:
            with Live(console=output.console, refresh_per_second=4, transient=False) as live:
                for last in watch_run(stack, started["arn"], interval=interval):
                    live.update(_progress(last))
    except KeyboardInterrupt:
        output.note(
            f"Stopped watching; run {started['name']} goes on. Follow it with "
            f"`labelbatch runs show {started['name']}`."
        )
        raise SystemExit(EXIT_INTERRUPTED) from None
    assert last is not None
    if output.as_json:
        output.json({"run": started, "progress": last})
    else:
        if not output.console.is_terminal:
            # No live display off a terminal (a log, a pipe): the last reading, once.
            output.console.print(_progress(last))
        ending = last["outcome"] or last["error"] or ""
        output.console.print(
            f"Run {started['name']} ended {_status_text(last['status'])} {ending}".rstrip() + "."
        )
    if last["status"] != "SUCCEEDED":
        raise SystemExit(EXIT_FAILED)


def _progress(progress: Any) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_row("Batch run", f"{progress['name']} {_status_text(progress['status'])}")
    table.add_row("Model", _status_text(progress["modelStatus"]))
    table.add_row("Images left", str(progress["imagesLeft"]))
    table.add_row("Results written", str(progress["resultsWritten"]))
    table.add_row("Elapsed", _duration(progress["elapsedSeconds"]))
    return table


# -- backfill and redrive ----------------------------------------------------------------------------------


@main.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be queued.")
@click.option("--prefix", metavar="P", help="Only keys under P (given with or without InputPrefix).")
@operation
def backfill(stack: Stack, output: Output, dry_run: bool, prefix: str | None) -> None:
    """Queue the images that have no result (purged or expired messages).

    Lists the images under InputPrefix (or --prefix) without a result, and sends a message shaped as S3's
    notification for each, unless one already waits in the image or dead-letter queue."""
    from labelbatch.ops.backfill import backfill as run_backfill

    answer = run_backfill(stack, prefix=prefix, dry_run=dry_run, now=_now())
    if output.as_json:
        output.json(answer)
        return
    output.console.print(
        f"Backfill of s3://{stack.outputs['ImageBucketName']}/{answer['prefix']}", markup=False
    )
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("Images", str(answer["images"]))
    table.add_row("With a result", str(answer["withResult"]))
    table.add_row("Waiting in the image queue", str(answer["waiting"]))
    table.add_row("In the dead-letter queue (use redrive)", str(answer["deadLettered"]))
    table.add_row("Key too long for a result", str(len(answer["noResultPossible"])))
    table.add_row(
        "To queue" if dry_run else "Queued", str(len(answer["toEnqueue"]) if dry_run else answer["enqueued"])
    )
    output.console.print(table)
    _list_keys(output, answer["toEnqueue"], "would be queued" if dry_run else "queued")
    if answer["toEnqueue"] and not dry_run:
        output.console.print("They are processed by the next run (`labelbatch run` starts one now).")
    if not dry_run and answer["enqueued"] < len(answer["toEnqueue"]):
        output.fail(
            f"SQS accepted {answer['enqueued']} of {len(answer['toEnqueue'])} messages: run backfill again.",
            1,
        )


@main.command()
@click.option("--dry-run", is_flag=True, help="Only show the messages and why they failed.")
@operation
def redrive(stack: Stack, output: Output, dry_run: bool) -> None:
    """Show why dead letters failed, then move them back.

    The reason comes from the message (its labelbatch-failure attribute, or a body that is no notification)
    or from the function's log; the messages then go back to the image queue."""
    from labelbatch.ops.redrive import redrive as run_redrive

    answer = run_redrive(stack, dry_run=dry_run)
    if output.as_json:
        output.json(answer)
    else:
        if not answer["messages"]:
            output.console.print("The dead-letter queue is empty: nothing to redrive.")
            return
        table = Table(title="Dead-lettered messages", title_justify="left")
        for column in ("Message", "Sent", "Receives", "Images", "Why it failed"):
            table.add_column(column)
        for message in answer["messages"]:
            why = (
                f"{escape(message['reason'])} (from the {_REASON_SOURCE[message['reasonSource']]})"
                if message["reason"] and message["reasonSource"]
                else "unknown: neither the message nor the function's log says"
            )
            table.add_row(
                message["messageId"],
                _time(message["sentAt"]) if message["sentAt"] else "",
                str(message["receiveCount"]),
                escape("\n".join(message["imageKeys"])) or "(none)",
                why,
            )
        output.console.print(table)
        if answer["method"] is not None:
            how = (
                "SQS's message-move task"
                if answer["method"] == "message-move-task"
                else "receive, send and delete in batches of ten"
            )
            note = f" ({answer['methodNote']})" if answer["methodNote"] else ""
            output.console.print(
                f"Moved {answer['moved']} message(s) back to the image queue with {how}{note}."
            )
            output.console.print("They are processed by the next run (`labelbatch run` starts one now).")
    if not dry_run and answer["messages"] and answer["moved"] == 0:
        output.fail("No message was moved back: see the note above, then run redrive again.", EXIT_FAILED)


_REASON_SOURCE = {
    "attribute": "message's labelbatch-failure attribute",
    "body": "message body",
    "log": "function's log",
}


# -- results and annotate ----------------------------------------------------------------------------------


def _when(ctx: click.Context, parameter: click.Parameter, value: str | None) -> datetime | None:
    from labelbatch.ops.times import parse_when

    if value is None:
        return None
    try:
        return parse_when(value, _now())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def result_selection(function: Command) -> Command:
    """The results a command reads: [KEY]... and --since WHEN, at least one of them."""

    @click.argument("keys", nargs=-1, metavar="[KEY]...")
    @click.option(
        "--since",
        callback=_when,
        metavar="WHEN",
        help="Results written since WHEN (ISO-8601, or 30m, 1h, 2d).",
    )
    @functools.wraps(function)
    def command(*args: Any, keys: tuple[str, ...], since: datetime | None, **kwargs: Any) -> None:
        if not keys and since is None:
            raise click.UsageError(
                "Name image keys (images/cat.jpg), or pass --since WHEN (for example --since 1h)."
            )
        function(*args, keys=keys, since=since, **kwargs)

    return command  # type: ignore[return-value]  # click's decorators keep the signature callers use


@main.command()
@result_selection
@click.option(
    "--download", type=click.Path(file_okay=False, path_type=Path), metavar="DIR", help="Save them under DIR."
)
@operation
def results(
    stack: Stack, output: Output, keys: tuple[str, ...], since: datetime | None, download: Path | None
) -> None:
    """Show or download result documents.

    Of the images named (KEY: images/cat.jpg, or cat.jpg under InputPrefix), or of those written since
    WHEN (ISO-8601, or 30m, 1h, 2d back from now)."""
    from labelbatch.ops.results import find_results

    answer = find_results(stack, keys=keys, since=since, download=download)
    if output.as_json:
        output.json(answer)
    else:
        table = Table(title=f"{len(answer['results'])} result(s)", title_justify="left")
        for column in ("Image", "Status", "Labels", "Written"):
            table.add_column(column)
        for entry in answer["results"]:
            labels = ", ".join(f"{label['name']} {label['confidence']:.1f}%" for label in entry["labels"])
            error = entry["error"] or {}
            table.add_row(
                escape(entry["imageKey"]),
                "ok" if entry["status"] == "ok" else f"[red]error[/red] {escape(error.get('code', ''))}",
                escape(labels if entry["status"] == "ok" else error.get("message", "")),
                _time(entry["writtenAt"]),
            )
        output.console.print(table)
        if download is not None and answer["results"]:
            output.console.print(f"Saved under {download}/ as their result keys.")
    _fail_on_missing(output, answer["missing"])


@main.command("annotate")
@result_selection
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("annotated"),
    show_default=True,
    metavar="DIR",
    help="Where the PNGs and index.html go.",
)
@operation
def annotate_command(
    stack: Stack, output: Output, keys: tuple[str, ...], since: datetime | None, out: Path
) -> None:
    """Draw labels onto images; write an index.html contact sheet.

    One PNG per image with its boxes and labels drawn, and one self-contained index.html: thumbnails,
    labels and confidences, error results marked."""
    from labelbatch.ops.annotate import annotate_results

    answer = annotate_results(stack, keys=keys, since=since, out=out)
    if output.as_json:
        output.json(answer)
    else:
        drawn = sum(1 for image in answer["images"] if image["annotatedPng"])
        errors = sum(1 for image in answer["images"] if image["status"] != "ok")
        output.console.print(
            f"Drew {drawn} annotated PNG(s) under {answer['out']}/ ({errors} error result(s) marked); "
            f"contact sheet: {answer['index']}"
        )
    _fail_on_missing(output, answer["missing"])


def _fail_on_missing(output: Output, missing: list[str]) -> None:
    if missing:
        output.fail(
            f"No result for {', '.join(missing)}: check the keys (`labelbatch backfill --dry-run` lists "
            "images without one).",
            EXIT_FAILED,
        )


# -- stop --------------------------------------------------------------------------------------------------


@main.command()
@click.option("--yes", is_flag=True, help="Do not ask first.")
@operation
def stop(stack: Stack, output: Output, yes: bool) -> None:
    """Stop spending now: consumer off, model stopped.

    Disables the consumer, then stops the model whoever started it. Asks first unless --yes."""
    from labelbatch.ops.stop import stop_plan, stop_spending

    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("stop changes the stack: confirm with --yes when not at a terminal.")
        plan = stop_plan(stack, now=_now())
        run = (
            f" Run {plan['runInProgress']} is in progress: it will fail and clean up."
            if plan["runInProgress"]
            else ""
        )
        click.confirm(
            f"Disable the consumer ({plan['consumer']}) and stop the model ({plan['model']}) of the "
            f"{stack.description}?{run}",
            abort=True,
            err=True,
        )
    answer = stop_spending(stack, now=_now())
    if output.as_json:
        output.json(answer)
        return
    consumer, model = answer["consumer"], answer["model"]
    output.console.print(f"Consumer: {consumer['action']} ({consumer['before']} -> {consumer['after']}).")
    output.console.print(f"Model: {model['action']} ({model['before']} -> {model['after']}).")
    if answer["runInProgress"]:
        output.console.print(f"Run {answer['runInProgress']} will see the model stop, fail and clean up.")
    schedule = answer["schedule"]
    if schedule and schedule["state"] == "ENABLED":
        when = f" at {_time(schedule['nextFireAt'])}" if schedule["nextFireAt"] else ""
        output.console.print(
            f"The schedule is still ENABLED: its next run{when} starts the model again if images wait. To "
            "pause it, deploy with ScheduleState=DISABLED (docs/OPERATIONS.md)."
        )


# -- the local stack and the demo ----------------------------------------------------------------------------


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
    """Serve S3, SQS, Lambda, Step Functions, ... and Rekognition Custom Labels on one endpoint.

    Prints one line of JSON on stdout when ready (endpoint, region, outputs); everything else goes to stderr.
    """
    from labelbatch.local.stack import LocalStack, LocalStackConfig

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
    """Run one batch on the local stack: sample images in, results out.

    One JSON result and one annotated PNG per image, written under --out."""
    from labelbatch.demo import render_summary, run_demo

    console = Console()
    summary = run_demo(images, count, out, console)
    render_summary(summary, out, console)
    if not summary.complete:
        raise SystemExit(EXIT_FAILED)


main.add_command(plan)


# -- rendering helpers -------------------------------------------------------------------------------------

_STATUS_COLOURS = {
    "RUNNING": "green",
    "SUCCEEDED": "green",
    "STARTING": "yellow",
    "STOPPING": "yellow",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "ABORTED": "red",
}


def _status_text(status: str) -> str:
    colour = _STATUS_COLOURS.get(status)
    return f"[{colour}]{status}[/{colour}]" if colour else status


def _time(text: str) -> str:
    return text.replace("T", " ")


def _name(arn_or_value: str) -> str:
    """An execution ARN as its run name; anything else as it is."""
    return arn_or_value.rsplit(":", 1)[-1] if arn_or_value.startswith("arn:") else arn_or_value


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _outcome(run: Any) -> str:
    if run["outcome"]:
        return str(run["outcome"]) if run["status"] == "SUCCEEDED" else f"{run['status']} {run['outcome']}"
    if run["status"] == "RUNNING":
        return _status_text("RUNNING")
    return f"{_status_text(run['status'])} {run['error'] or ''}".rstrip()


def _model_time(run: Any) -> str:
    if run["modelSeconds"] is None:
        return "unknown"
    units = f" x {run['inferenceUnits']} IU" if run["inferenceUnits"] else ""
    return f"{_duration(run['modelSeconds'])}{units}"


def _cost(usd: float | None) -> str:
    return "unknown" if usd is None else f"{usd:.2f} USD"


def _run_line(run: Any) -> str:
    waiting = "" if run["backlogAtStart"] is None else f", {run['backlogAtStart']} image(s) waiting at start"
    return (
        f"{run['name']}: {_outcome(run)}, started {_time(run['startedAt'])}, "
        f"{_duration(run['durationSeconds'])}{waiting}, "
        f"model {_model_time(run)} ({_cost(run['modelCostUsd'])})"
    )


def _list_keys(output: Output, keys: Iterable[str], what: str) -> None:
    listed = list(keys)
    for key in listed[:_LISTED_KEYS]:
        output.console.print(f"  {key}", markup=False)
    if len(listed) > _LISTED_KEYS:
        output.console.print(f"  ... and {len(listed) - _LISTED_KEYS} more {what} (--json lists them all)")
