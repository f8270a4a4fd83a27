"""Constants and helpers of the template tests: the example stack and the walk over IAM documents."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

# The pinned environment has no types-PyYAML.
import yaml  # type: ignore[import-untyped]
from samtranslator.yaml_helper import intrinsics_multi_constructor

# Evaluates an intrinsic-function expression to what CloudFormation would make of it (see conftest.resolve).
Resolver = Callable[[Any], Any]

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
ARTIFACT_BUCKET = "labelbatch-artifacts-example"

# The example stack every resolved string refers to.
ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK_NAME = "labelbatch"
STACK_GUID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK_NAME}/{STACK_GUID}",
    "AWS::URLSuffix": "amazonaws.com",
}
EXAMPLE_PROJECT_ARN = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/defects/1761990000000"
EXAMPLE_VERSION_NAME = "defects.2025-11-01T10.00.00"
EXAMPLE_PROJECT_VERSION_ARN = (
    f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/defects/version/{EXAMPLE_VERSION_NAME}/1761991200000"
)
EXAMPLE_PARAMETERS: dict[str, str] = {
    "ProjectArn": EXAMPLE_PROJECT_ARN,
    "ProjectVersionArn": EXAMPLE_PROJECT_VERSION_ARN,
}
# Ref of an event source mapping returns the UUID Lambda gives it.
EXAMPLE_MAPPING_UUID = "6c4f1e2a-9b7d-4e0f-8a1b-2c3d4e5f6a7b"


def allow_statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    listed = statements if isinstance(statements, list) else [statements]
    return [statement for statement in listed if statement.get("Effect") == "Allow"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iter_role_documents(resources: Mapping[str, Mapping[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every identity policy document of the stack: inline role policies and standalone IAM policies."""
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                yield logical_id, policy["PolicyDocument"]
        elif resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            yield logical_id, properties["PolicyDocument"]


def load_template(path: Path) -> dict[str, Any]:
    """A template with its short-form intrinsics (!Ref, !Sub...) expanded, as CloudFormation reads it.

    The tags go on a loader class of its own: registering them on yaml.SafeLoader, as samtranslator's
    yaml_parse does, would change yaml.safe_load for every other test in the session.
    """
    loader: Any = type("CloudFormationLoader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", intrinsics_multi_constructor)
    template: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    return template
