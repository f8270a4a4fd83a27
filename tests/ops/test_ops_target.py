"""Reaching the stack: --stack NAME (CloudFormation), --local [ENDPOINT], or the environment; and the
sentences a user reads when that fails, with exit code 2 and never a traceback."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from labelbatch.ops.target import template_output_names
from ops.conftest import Operator, labelbatch
from support.stack_helpers import StackUnderTest


@pytest.fixture
def aws_environment(stack: StackUnderTest, tmp_path: Path) -> dict[str, str | None]:
    """An AWS SDK environment pointed at the local stack: any credentials, no AWS configuration files."""
    empty = tmp_path / "empty"
    empty.write_text("", encoding="utf-8")
    return {
        "AWS_ENDPOINT_URL": stack.endpoint,
        "AWS_DEFAULT_REGION": stack.region,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def not_labelbatch() -> Iterator[str]:
    """An HTTP endpoint that answers 404 to everything."""

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_without_a_target_it_says_how_to_name_one() -> None:
    result = labelbatch("status", env={"AWS_ENDPOINT_URL": None})

    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: Say which stack to operate: --stack NAME for a deployed stack, --local for the local stack "
        "at http://127.0.0.1:4566 (started with `labelbatch local up`), or set LABELBATCH_STACK.\n"
    )


def test_a_local_endpoint_with_nothing_listening_says_to_start_the_local_stack() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"

    result = labelbatch("status", "--local", endpoint)

    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: No local stack answers at {endpoint}: start one with `labelbatch local up`, or point "
        "--local (or AWS_ENDPOINT_URL) at the endpoint it printed.\n"
    )


def test_an_endpoint_that_is_not_a_local_stack_is_named_as_such(not_labelbatch: str) -> None:
    result = labelbatch("status", "--local", not_labelbatch)

    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: {not_labelbatch} answers, but not as a labelbatch local stack (GET /_labelbatch/outputs: "
        "HTTP 404): point --local (or AWS_ENDPOINT_URL) at the endpoint `labelbatch local up` printed.\n"
    )


def test_an_unknown_stack_name_names_the_region_it_looked_in(
    operator: Operator, aws_environment: dict[str, str | None]
) -> None:
    result = operator.run("status", target=["--stack", "no-such-stack"], env=aws_environment)

    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: There is no stack named 'no-such-stack' in us-east-1: check the name (aws cloudformation "
        "describe-stacks lists them) and the region (--region), which must be the one it was deployed to.\n"
    )


def test_the_right_stack_in_the_wrong_region_is_not_found_there(
    operator: Operator, aws_environment: dict[str, str | None]
) -> None:
    result = operator.run(
        "status", target=["--stack", "labelbatch-local", "--region", "eu-west-1"], env=aws_environment
    )

    assert result.exit_code == 2
    assert "There is no stack named 'labelbatch-local' in eu-west-1" in result.stderr


# moto creates nothing for the wait condition handle, and says so; nothing is needed.
@pytest.mark.filterwarnings("ignore:Tried to parse AWS..CloudFormation..WaitConditionHandle")
def test_a_stack_not_deployed_from_this_template_is_refused_with_the_outputs_it_lacks(
    operator: Operator, stack: StackUnderTest, aws_environment: dict[str, str | None]
) -> None:
    # Given another application's stack, with one output of the same name
    template = {
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {"ImageBucketName": {"Value": "someone-elses-bucket"}},
    }
    stack.client("cloudformation").create_stack(StackName="other-app", TemplateBody=json.dumps(template))

    # When the operator points labelbatch at it
    result = operator.run("status", target=["--stack", "other-app"], env=aws_environment)

    # Then it is refused, with every output it lacks
    lacking = ", ".join(sorted(template_output_names() - {"ImageBucketName"}))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: Stack 'other-app' (CREATE_COMPLETE) was not deployed from this version of labelbatch's "
        f"template.yaml: it lacks the outputs {lacking}. Name the stack that `sam deploy` created from this "
        "template, or deploy this version.\n"
    )


def test_no_credentials_says_how_to_configure_them(
    operator: Operator, aws_environment: dict[str, str | None]
) -> None:
    without_credentials = aws_environment | {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}

    result = operator.run("status", target=["--stack", "labelbatch-local"], env=without_credentials)

    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "error: No AWS credentials were found: configure them (aws configure, aws sso login, AWS_PROFILE or "
        "--profile), or use --local for the local stack.\n"
    )


def test_no_region_says_to_pass_one(operator: Operator, aws_environment: dict[str, str | None]) -> None:
    result = operator.run(
        "status", target=["--stack", "labelbatch-local"], env=aws_environment | {"AWS_DEFAULT_REGION": None}
    )

    assert (result.exit_code, result.stderr) == (
        2,
        "error: No AWS region is set: pass --region (or set AWS_DEFAULT_REGION).\n",
    )


def test_an_unknown_profile_is_named(operator: Operator, aws_environment: dict[str, str | None]) -> None:
    result = operator.run(
        "status", target=["--stack", "labelbatch-local", "--profile", "nope"], env=aws_environment
    )

    assert (result.exit_code, result.stderr) == (
        2,
        "error: There is no AWS profile named 'nope': check --profile (or AWS_PROFILE) against "
        "~/.aws/config.\n",
    )


def test_stack_and_local_together_are_refused(operator: Operator, stack: StackUnderTest) -> None:
    result = operator.run("status", target=["--stack", "labelbatch-local", "--local", stack.endpoint])

    assert (result.exit_code, result.stderr) == (
        2,
        "error: Pass either --stack NAME (a deployed stack) or --local (the local stack), not both.\n",
    )


def test_the_environment_names_the_stack_or_the_local_endpoint(
    operator: Operator, stack: StackUnderTest, aws_environment: dict[str, str | None]
) -> None:
    # When LABELBATCH_STACK names the stack (AWS_ENDPOINT_URL pointing at it, as for any SDK)
    by_name = operator.run(
        "status", "--json", target=[], env=aws_environment | {"LABELBATCH_STACK": "labelbatch-local"}
    )
    # When only AWS_ENDPOINT_URL is set
    by_endpoint = operator.run("status", "--json", target=[], env={"AWS_ENDPOINT_URL": stack.endpoint})

    # Then the first is the deployed-stack path, the second the local one
    assert by_name.exit_code == by_endpoint.exit_code == 0
    assert json.loads(by_name.stdout)["stack"] == "stack labelbatch-local in us-east-1"
    assert json.loads(by_endpoint.stdout)["stack"] == f"local stack at {stack.endpoint}"
