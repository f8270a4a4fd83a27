"""What a newcomer runs: `labelbatch local up`, driven from outside with boto3, and `labelbatch demo`."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from labelbatch.images import SampleImage, generate_sample_images
from support.stack_helpers import LABELBATCH, assert_labels_match, command_environment, local_up

RUN_TIMEOUT_SECONDS = 120
EXIT_TIMEOUT_SECONDS = 30


@pytest.fixture
def started_local_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], dict[str, Any]]]:
    with local_up(tmp_path, "--poll-seconds", "1") as started:
        yield started


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url) as response:
        return json.loads(response.read())


def test_local_up_serves_a_run_driven_with_boto3_and_stops_on_ctrl_c(
    started_local_up: tuple[subprocess.Popen[bytes], dict[str, Any]],
    samples: list[SampleImage],
    tmp_path: Path,
) -> None:
    # Given `labelbatch local up` ready, and boto3 pointed at the endpoint it printed
    process, ready = started_local_up

    def stderr_tail() -> str:
        return (tmp_path / "local-up.stderr").read_text(errors="replace")[-6000:]

    endpoint, outputs = ready["endpoint"], ready["outputs"]
    session = boto3.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=ready["region"]
    )
    s3: Any = session.client("s3", endpoint_url=endpoint)
    sfn: Any = session.client("stepfunctions", endpoint_url=endpoint)
    lambda_: Any = session.client("lambda", endpoint_url=endpoint)
    assert get_json(f"{endpoint}/_labelbatch/outputs") == outputs

    # When three images are uploaded and a run is started on the StateMachineArn output
    image_keys = []
    for sample in samples[:3]:
        key = outputs["InputPrefix"] + sample.path.name
        s3.put_object(Bucket=outputs["ImageBucketName"], Key=key, Body=sample.path.read_bytes())
        image_keys.append(key)
    execution_arn = sfn.start_execution(
        stateMachineArn=outputs["StateMachineArn"], name="cli-driven-run", input="{}"
    )["executionArn"]
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while (status := sfn.describe_execution(executionArn=execution_arn)["status"]) == "RUNNING":
        assert time.monotonic() < deadline, f"the run was still RUNNING after {RUN_TIMEOUT_SECONDS} s"
        time.sleep(0.2)

    # Then the run succeeded with one result per image, the consumer off and the model stopped
    assert status == "SUCCEEDED"
    listed = s3.list_objects_v2(Bucket=outputs["ImageBucketName"], Prefix=outputs["ResultsPrefix"])
    assert sorted(item["Key"] for item in listed.get("Contents", [])) == sorted(
        outputs["ResultsPrefix"] + key.removeprefix(outputs["InputPrefix"]) + ".json" for key in image_keys
    )
    assert lambda_.get_event_source_mapping(UUID=outputs["EventSourceMappingId"])["State"] == "Disabled"
    model = get_json(f"{endpoint}/_labelbatch/model")
    assert model["status"] in {"STOPPING", "STOPPED"}
    assert (model["usage"]["startCalls"], model["usage"]["stopCalls"]) == (1, 1)

    # When Ctrl-C reaches the process
    process.send_signal(signal.SIGINT)

    # Then it exits cleanly (if not, its stderr holds the stacks it printed while stopping too slowly)
    try:
        exit_code = process.wait(timeout=EXIT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"local up still running {EXIT_TIMEOUT_SECONDS} s after SIGINT:\n{stderr_tail()}")
    assert exit_code == 0, stderr_tail()


def test_demo_writes_one_result_and_one_annotated_image_per_sample(tmp_path: Path) -> None:
    # Given the four sample images the demo generates (the same seed makes the same files here)
    expected = {sample.path.name: sample for sample in generate_sample_images(tmp_path / "expected", 4)}
    out = tmp_path / "out"

    # When `labelbatch demo --count 4` runs
    completed = subprocess.run(
        [str(LABELBATCH), "demo", "--count", "4", "--out", str(out)],
        capture_output=True,
        env=command_environment(),
        timeout=180,
        check=False,
    )

    # Then it exits 0, with a result listing each sample's boxes and an annotated PNG beside it
    output = completed.stdout.decode(errors="replace") + completed.stderr.decode(errors="replace")
    assert completed.returncode == 0, output[-2000:]
    # and nothing it printed is a traceback or an error (a throttled call is retried, not reported)
    assert "Traceback" not in output, output[-2000:]
    assert '"level":"ERROR"' not in output.replace(" ", ""), output[-2000:]
    results = {path.name.removesuffix(".json"): path for path in out.rglob("*.json")}
    annotated = {path.name.removesuffix(".annotated.png"): path for path in out.rglob("*.annotated.png")}
    assert sorted(results) == sorted(expected)
    assert sorted(annotated) == sorted(expected)
    for name, sample in expected.items():
        document = json.loads(results[name].read_text(encoding="utf-8"))
        assert document["status"] == "ok"
        assert_labels_match(document, sample)
        assert annotated[name].parent == results[name].parent
        with Image.open(annotated[name]) as picture, Image.open(sample.path) as original:
            assert (picture.format, picture.size) == ("PNG", original.size)
