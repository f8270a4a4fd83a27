"""`labelbatch run [--wait]`: start a batch run now; with --wait, watch it to its end (exit 0 only if it
SUCCEEDED); Ctrl-C stops the watching, not the run."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from labelbatch.images import SampleImage
from labelbatch.ops.runs import RUN_NAME_PREFIX, watch_run
from ops.conftest import Operator
from support.stack_helpers import StackUnderTest
from support.terminal import in_terminal, read_terminal

PROGRESS_KEYS = {
    "name",
    "arn",
    "status",
    "modelStatus",
    "imagesLeft",
    "resultsWritten",
    "elapsedSeconds",
    "outcome",
    "error",
}
# The escape sequence that starts a colour (SGR) in a terminal.
COLOUR = "\x1b["


def test_run_starts_a_uniquely_named_run_as_the_schedule_would(
    operator: Operator, stack: StackUnderTest
) -> None:
    # When the operator starts two runs
    first = operator.json("run")
    second = operator.json("run")

    # Then each has a name of its own and no progress (it was not watched), and each really started
    assert set(first) == {"run", "progress"}
    assert first["progress"] is None
    assert set(first["run"]) == {"name", "arn", "startedAt"}
    assert first["run"]["name"].startswith(f"{RUN_NAME_PREFIX}-")
    assert first["run"]["name"] != second["run"]["name"]
    for started in (first, second):
        assert stack.wait(started["run"]["arn"]).status == "SUCCEEDED"


def test_run_wait_ends_with_the_runs_last_progress_and_exit_0(
    operator: Operator, stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given two images waiting
    stack.upload_samples(samples[:2])

    # When the operator starts a run and waits for it
    answer = operator.json("run", "--wait", "--interval", "0.5")

    # Then the last progress is the run's end: succeeded, nothing left, both results written
    progress = answer["progress"]
    assert set(progress) == PROGRESS_KEYS
    assert progress["arn"] == answer["run"]["arn"]
    assert (progress["status"], progress["outcome"], progress["error"]) == ("SUCCEEDED", "processed", None)
    assert (progress["imagesLeft"], progress["resultsWritten"]) == (0, 2)
    assert progress["modelStatus"] in {"STOPPING", "STOPPED"}


def test_run_wait_exits_1_when_the_run_fails(operator: Operator, stack: StackUnderTest) -> None:
    # Given a message waiting and a model whose next start fails
    stack.client("sqs").send_message(QueueUrl=stack.outputs["ImageQueueUrl"], MessageBody="{}")
    stack.configure_model({"fail_next_start": True})

    # When the operator starts a run and waits for it
    result = operator.run("run", "--wait", "--interval", "0.5")

    # Then it says how the run ended, and exits 1
    assert result.exit_code == 1
    name = result.stdout.split("Started run ", 1)[1].split(".", 1)[0]
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert lines[-1] == f"Run {name} ended FAILED ModelStartFailed."
    assert any(line.startswith("Images left") for line in lines)


@dataclass
class RecordedSleep:
    seconds: list[float]

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        time.sleep(seconds)


def test_watching_yields_the_progress_until_the_run_ends(
    operator: Operator, stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given three images waiting and a run started
    stack.upload_samples(samples[:3])
    arn = stack.start_run()
    sleep = RecordedSleep([])

    # When its progress is watched every 0.5 s
    seen = list(watch_run(operator.target, arn, interval=0.5, sleep=sleep))

    # Then every reading but the last is RUNNING, results only grow, and the last is the end of the run
    assert [progress["status"] for progress in seen[:-1]] == ["RUNNING"] * (len(seen) - 1)
    assert seen[-1]["status"] == "SUCCEEDED"
    written = [progress["resultsWritten"] for progress in seen]
    assert written == sorted(written)
    assert (written[-1], seen[-1]["imagesLeft"]) == (3, 0)
    assert sleep.seconds == [0.5] * (len(seen) - 1)
    elapsed = [progress["elapsedSeconds"] for progress in seen]
    assert elapsed == sorted(elapsed)


def test_in_a_terminal_the_live_display_is_coloured_and_ends_with_the_outcome(
    stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given one image waiting
    stack.upload_samples(samples[:1])

    # When the operator runs `labelbatch run --wait` at a terminal
    process, controller = in_terminal(stack.endpoint, "run", "--wait", "--interval", "0.5")
    shown = read_terminal(controller, lambda text: "ended" in text and text.rstrip().endswith("."))
    exit_code = process.wait(timeout=30)
    os.close(controller)

    # Then it showed the live progress in colour and ended with the outcome, exit 0
    assert exit_code == 0, shown
    assert COLOUR in shown
    for label in ("Batch run", "Model", "Images left", "Results written", "Elapsed"):
        assert label in shown
    assert "processed." in shown
    assert "SUCCEEDED" in shown


def test_ctrl_c_stops_the_watching_and_the_run_goes_on(
    stack: StackUnderTest, samples: list[SampleImage]
) -> None:
    # Given an image waiting and a model slow to start, so the run is still under way when Ctrl-C comes
    stack.upload_samples(samples[:1])
    stack.configure_model({"start_seconds": 4})
    process, controller = in_terminal(stack.endpoint, "run", "--wait", "--interval", "0.5")
    shown = read_terminal(controller, lambda text: "Images left" in text)
    name = shown.split("Started run ", 1)[1].split(".", 1)[0]

    # When the operator presses Ctrl-C
    os.write(controller, b"\x03")
    shown += read_terminal(controller, lambda text: "goes on" in text and text.rstrip().endswith("`."))
    exit_code = process.wait(timeout=30)
    os.close(controller)

    # Then the command says the run goes on and exits 130; the run was not stopped and ends by itself
    assert exit_code == 130, shown
    assert f"Stopped watching; run {name} goes on. Follow it with `labelbatch runs show {name}`." in " ".join(
        shown.split()
    )
    arn = stack.outputs["StateMachineArn"].replace(":stateMachine:", ":execution:") + f":{name}"
    assert stack.wait(arn).status == "SUCCEEDED"
