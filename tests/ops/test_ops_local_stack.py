"""What the operations command needs from the local stack: a quiet stdout, and a CloudFormation record.

`labelbatch local up` prints one ready line on stdout; a script may read that line and nothing more. The
functions' log and metric lines go to stderr, so an unread stdout pipe never fills and stalls the stack.
The stack's outputs are also a CloudFormation stack of its name, so `--stack NAME` with AWS_ENDPOINT_URL
pointed at the local endpoint runs the code path a deployed stack takes.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import boto3
import pytest

from labelbatch.images import generate_sample_images
from ops.conftest import Operator
from support.stack_helpers import LABELBATCH, READY_TIMEOUT_SECONDS, StackUnderTest, command_environment

# stdout is a pipe of one page (a default one holds 64 KiB, some 75 images' worth): the batch's function
# output, a log line of about 0.9 KB an image and the metric lines, fills it more than three times over, so
# that any of it on stdout would fill the unread pipe and stall the stack.
PIPE_CAPACITY = 4096
LARGE_BATCH = 16
DISTINCT_SAMPLES = 4
RUN_TIMEOUT_SECONDS = 300
EMF_MARKER = '"_aws"'


@pytest.fixture
def local_up_with_stdout_unread(
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any], Path, BinaryIO]]:
    """`labelbatch local up` whose stdout is a small pipe read only up to the ready line; stderr goes to a
    file."""
    stderr_path = tmp_path / "local-up.stderr"
    reader, writer = os.pipe()
    fcntl.fcntl(writer, fcntl.F_SETPIPE_SZ, PIPE_CAPACITY)
    assert fcntl.fcntl(writer, fcntl.F_GETPIPE_SZ) == PIPE_CAPACITY
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [str(LABELBATCH), "local", "up", "--port", "0", "--no-schedule", "--poll-seconds", "1"],
            stdout=writer,
            stderr=stderr,
            env=command_environment(),
        )
    os.close(writer)
    with os.fdopen(reader, "rb") as stdout:
        try:
            ready_line = stdout.readline()
            assert ready_line, f"local up exited early:\n{stderr_path.read_text()[-3000:]}"
            yield process, json.loads(ready_line), stderr_path, stdout
        finally:
            process.kill()
            process.wait()


def test_local_up_drains_a_large_batch_while_nobody_reads_its_stdout(
    local_up_with_stdout_unread: tuple[subprocess.Popen[bytes], dict[str, Any], Path, BinaryIO],
    tmp_path: Path,
) -> None:
    # Given `local up` (function logs at INFO, metrics on) whose stdout nobody reads after the ready line
    process, ready, stderr_path, stdout = local_up_with_stdout_unread
    outputs = ready["outputs"]
    session = boto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=ready["region"]
    )
    s3: Any = session.client("s3", endpoint_url=ready["endpoint"])
    sfn: Any = session.client("stepfunctions", endpoint_url=ready["endpoint"])
    bodies = [
        sample.path.read_bytes() for sample in generate_sample_images(tmp_path / "samples", DISTINCT_SAMPLES)
    ]

    # When a large batch is uploaded and one run drains it
    for index in range(LARGE_BATCH):
        key = f"{outputs['InputPrefix']}large/{index:03d}.png"
        s3.put_object(Bucket=outputs["ImageBucketName"], Key=key, Body=bodies[index % DISTINCT_SAMPLES])
    arn = sfn.start_execution(stateMachineArn=outputs["StateMachineArn"], name="large-batch", input="{}")[
        "executionArn"
    ]
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while (status := sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
        assert time.monotonic() < deadline, (
            f"the run still RUNNING after {RUN_TIMEOUT_SECONDS} s: the stack stalled"
        )
        time.sleep(0.5)

    # Then it succeeded, a result per image; the function's lines went to stderr, and stdout got nothing more
    assert status == "SUCCEEDED"
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=outputs["ImageBucketName"], Prefix=outputs["ResultsPrefix"]
    )
    assert sum(page.get("KeyCount", 0) for page in pages) == LARGE_BATCH
    stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
    assert stderr.count('"message":"analyzed"') >= LARGE_BATCH
    assert EMF_MARKER in stderr
    assert sum(len(line) + 1 for line in stderr.splitlines() if line.startswith("{")) > 3 * PIPE_CAPACITY
    process.terminate()
    assert process.wait(timeout=READY_TIMEOUT_SECONDS) == 0
    assert stdout.read() == b""


def test_the_local_stack_is_also_a_cloudformation_stack_of_its_name(stack: StackUnderTest) -> None:
    # Given the local stack, named as LocalStackConfig names it
    cloudformation = stack.client("cloudformation")

    # When CloudFormation describes that stack
    description = cloudformation.describe_stacks(StackName="labelbatch-local")["Stacks"][0]

    # Then its outputs are the stack outputs, named as template.yaml declares them
    assert {output["OutputKey"]: output["OutputValue"] for output in description["Outputs"]} == stack.outputs
    assert description["StackStatus"] == "CREATE_COMPLETE"


def test_stack_name_with_the_local_endpoint_takes_the_deployed_stack_path(
    operator: Operator, stack: StackUnderTest
) -> None:
    # Given AWS_ENDPOINT_URL pointed at the local stack, as for any SDK
    environment = {
        **command_environment(),
        "AWS_ENDPOINT_URL": stack.endpoint,
        "AWS_DEFAULT_REGION": stack.region,
    }
    environment |= {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}

    # When `labelbatch status --stack labelbatch-local --json` runs as a separate command
    completed = subprocess.run(
        [str(LABELBATCH), "status", "--stack", "labelbatch-local", "--json"],
        capture_output=True,
        env=environment,
        timeout=120,
        check=False,
    )

    # Then it answers from CloudFormation's outputs what --local answers from the endpoint
    assert completed.returncode == 0, completed.stderr.decode()
    by_stack = json.loads(completed.stdout)
    by_endpoint = operator.json("status")
    assert by_stack["stack"] == "stack labelbatch-local in us-east-1"
    for part in ("model", "queue", "deadLetters", "consumer", "schedule", "marker", "run", "spending"):
        assert by_stack[part] == by_endpoint[part], part
