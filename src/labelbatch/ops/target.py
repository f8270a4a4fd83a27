"""Which stack to operate, and reaching its resources: from CloudFormation, or from a local stack's endpoint.

Both targets end in the same `Stack`: a boto3 session and the stack outputs, whose names are the contract
(template.yaml's Outputs section, read here, is their one definition). Every operation starts from it, so a
deployed stack and the local one run the same code. The local stack also records its outputs as a
CloudFormation stack of its own name: `--stack labelbatch-local` with AWS_ENDPOINT_URL pointed at it takes
exactly the deployed-stack path.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

from labelbatch.local import OUTPUTS_PATH, TEMPLATE, local_session
from labelbatch.ops.errors import TargetError

LOCAL_ENDPOINT = "http://127.0.0.1:4566"
STACK_VARIABLE = "LABELBATCH_STACK"
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"
# Standard retries absorb throttling of the many small reads an overview makes.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
_LOCAL_TIMEOUT_SECONDS = 5


@cache
def template_output_names() -> frozenset[str]:
    """The outputs every stack deployed from template.yaml has (those without a Condition)."""
    # Imported here: the template loader brings the SAM translator, which only this needs.
    from labelbatch.local.deploy.template import load_template

    outputs: dict[str, Any] = load_template(TEMPLATE).get("Outputs", {})
    return frozenset(name for name, output in outputs.items() if "Condition" not in output)


@dataclass
class Stack:
    """A labelbatch stack: where it is (`description`), the session that reaches it, and its outputs."""

    description: str
    session: boto3.Session
    outputs: Mapping[str, str]
    endpoint_url: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def region(self) -> str:
        # The state machine's ARN names the region the stack lives in, whichever way it was reached.
        return self.outputs["StateMachineArn"].split(":")[3]

    def client(self, service: str, config: Config | None = None) -> Any:
        """One client per service, or a new one with `config` merged in (typed Any: the service name is a
        variable, which the stubs cannot follow)."""
        if config is not None:
            return self._new_client(service, _CLIENT_CONFIG.merge(config))
        if service not in self._clients:
            self._clients[service] = self._new_client(service, _CLIENT_CONFIG)
        return self._clients[service]

    def _new_client(self, service: str, config: Config) -> Any:
        make_client: Any = self.session.client
        return make_client(service, endpoint_url=self.endpoint_url, config=config, region_name=self.region)


def open_stack(
    *,
    stack_name: str | None,
    local_endpoint: str | None,
    region: str | None,
    profile: str | None,
    environment: Mapping[str, str] = os.environ,
) -> Stack:
    """The stack named on the command line, else by LABELBATCH_STACK, else the local stack at
    AWS_ENDPOINT_URL; TargetError when none is named or it cannot be reached."""
    if stack_name and local_endpoint:
        raise TargetError(
            "Pass either --stack NAME (a deployed stack) or --local (the local stack), not both."
        )
    if stack_name:
        return deployed_stack(stack_name, region=region, profile=profile)
    if local_endpoint:
        return local_stack(local_endpoint)
    if environment.get(STACK_VARIABLE):
        return deployed_stack(environment[STACK_VARIABLE], region=region, profile=profile)
    if environment.get(ENDPOINT_VARIABLE):
        return local_stack(environment[ENDPOINT_VARIABLE])
    raise TargetError(
        f"Say which stack to operate: --stack NAME for a deployed stack, --local for the local stack at "
        f"{LOCAL_ENDPOINT} (started with `labelbatch local up`), or set {STACK_VARIABLE}."
    )


def deployed_stack(name: str, *, region: str | None, profile: str | None) -> Stack:
    """The stack's outputs from CloudFormation (AWS_ENDPOINT_URL, when set, is honoured as by any SDK)."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise TargetError(
            f"There is no AWS profile named {profile!r}: check --profile (or AWS_PROFILE) against "
            "~/.aws/config."
        ) from exc
    where = f"stack {name!r} in {session.region_name or 'no region'}"
    try:
        cloudformation: Any = session.client("cloudformation", config=_CLIENT_CONFIG)
        description = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except NoRegionError as exc:
        raise TargetError("No AWS region is set: pass --region (or set AWS_DEFAULT_REGION).") from exc
    except NoCredentialsError as exc:
        raise TargetError(
            "No AWS credentials were found: configure them (aws configure, aws sso login, AWS_PROFILE or "
            "--profile), or use --local for the local stack."
        ) from exc
    except EndpointConnectionError as exc:
        raise TargetError(
            f"Cannot reach CloudFormation at {exc.kwargs.get('endpoint_url')}: check --region and your "
            "network (or AWS_ENDPOINT_URL, when it points at a local stack: is it running?)."
        ) from exc
    except ClientError as exc:
        raise TargetError(_describe_stacks_refusal(exc, name, session.region_name)) from exc
    except BotoCoreError as exc:
        raise TargetError(f"Cannot read {where}: {exc}. Check your AWS configuration.") from exc
    outputs = {output["OutputKey"]: output["OutputValue"] for output in description.get("Outputs", [])}
    _check_outputs(outputs, f"Stack {name!r} ({description['StackStatus']})")
    return Stack(
        description=f"stack {name} in {session.region_name}",
        session=session,
        outputs=outputs,
        endpoint_url=None,
    )


def _describe_stacks_refusal(exc: ClientError, name: str, region: str | None) -> str:
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "")
    if code == "ValidationError" and "does not exist" in message:
        return (
            f"There is no stack named {name!r} in {region}: check the name (aws cloudformation "
            "describe-stacks lists them) and the region (--region), which must be the one it was deployed to."
        )
    if code in {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}:
        return "Your AWS credentials have expired: refresh them (aws sso login, or new keys) and try again."
    if code in {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"}:
        return "AWS does not accept your credentials: check the access key, the profile, or --profile."
    if code in {"AccessDenied", "AccessDeniedException"}:
        return (
            f"Your AWS identity may not read stack {name!r} (cloudformation:DescribeStacks was denied): use "
            "a role or profile that may operate it."
        )
    return f"CloudFormation refused to describe stack {name!r}: {code}: {message}."


def local_stack(endpoint: str) -> Stack:
    """The outputs a local stack serves at GET /_labelbatch/outputs, reached with its any-credentials."""
    endpoint = endpoint.rstrip("/")
    try:
        with urllib.request.urlopen(  # noqa: S310  (the operator's own endpoint, http or https)
            endpoint + OUTPUTS_PATH, timeout=_LOCAL_TIMEOUT_SECONDS
        ) as response:
            outputs = json.loads(response.read())
    except ValueError as exc:
        raise TargetError(
            f"{endpoint} is not a URL a local stack could serve: pass --local http://HOST:PORT."
        ) from exc
    except urllib.error.HTTPError as exc:
        raise TargetError(
            f"{endpoint} answers, but not as a labelbatch local stack (GET {OUTPUTS_PATH}: HTTP {exc.code}): "
            "point --local (or AWS_ENDPOINT_URL) at the endpoint `labelbatch local up` printed."
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise TargetError(
            f"No local stack answers at {endpoint}: start one with `labelbatch local up`, or point --local "
            "(or AWS_ENDPOINT_URL) at the endpoint it printed."
        ) from exc
    if not isinstance(outputs, dict) or not outputs:
        raise TargetError(
            f"The local stack at {endpoint} has no outputs yet (it is still deploying): try again in a "
            "moment."
        )
    _check_outputs(outputs, f"The local stack at {endpoint}")
    session = local_session(str(outputs["StateMachineArn"]).split(":")[3])
    return Stack(
        description=f"local stack at {endpoint}", session=session, outputs=outputs, endpoint_url=endpoint
    )


def _check_outputs(outputs: Mapping[str, str], what: str) -> None:
    missing = sorted(template_output_names() - set(outputs))
    if missing:
        raise TargetError(
            f"{what} was not deployed from this version of labelbatch's template.yaml: it lacks the outputs "
            f"{', '.join(missing)}. Name the stack that `sam deploy` created from this template, or deploy "
            "this version."
        )
