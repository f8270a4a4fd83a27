"""The SAM template, before and after the SAM transform, run offline with aws-sam-translator.

`sam build`/`sam package` replace local CodeUri/DefinitionUri paths with S3 locations before CloudFormation
applies the transform; `transformed_template` does the same with placeholders, so the transform runs here
exactly as it would on deploy, with no AWS call (the managed policies SAM adds are resolved from the list
aws-sam-translator ships; the loader below fails the test if the translator ever needs IAM).

`resolve` evaluates the intrinsic functions the template uses (Ref, Fn::Sub, Fn::GetAtt, Fn::Select,
Fn::Split, Fn::Join, Fn::FindInMap) against a fixed example stack, so tests can compare the strings
CloudFormation would produce, not only the shape of the expressions.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from .support import (
    ACCOUNT,
    ARTIFACT_BUCKET,
    EXAMPLE_MAPPING_UUID,
    EXAMPLE_PARAMETERS,
    PSEUDO_PARAMETERS,
    REGION,
    REPO_ROOT,
    TEMPLATE_PATH,
    Resolver,
    load_template,
)


class _OfflinePolicyLoader:
    """SAM asks for the ARNs of AWS managed policies only when its bundled list lacks one: never, offline."""

    def load(self) -> dict[str, str]:
        raise AssertionError("the SAM transform wanted to list IAM managed policies; it must run offline")


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    """template.yaml as written (short-form intrinsics expanded), before the transform."""
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="session")
def transformed_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of template.yaml."""
    fragment = copy.deepcopy(sam_template)
    function_globals = fragment.get("Globals", {}).get("Function", {})
    if isinstance(function_globals.get("CodeUri"), str):
        function_globals["CodeUri"] = f"s3://{ARTIFACT_BUCKET}/functions.zip"
    for resource in fragment["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "DefinitionUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://{ARTIFACT_BUCKET}/{Path(properties[key]).name}"
    with pytest.MonkeyPatch.context() as environment:
        # The transform reads the region from the environment, as CloudFormation's transform knows its own.
        environment.setenv("AWS_DEFAULT_REGION", REGION)
        transformed: dict[str, Any] = transform(fragment, {}, _OfflinePolicyLoader())
    return transformed


@pytest.fixture(scope="session")
def resources(transformed_template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = transformed_template["Resources"]
    return found


@pytest.fixture(scope="session")
def resolve(transformed_template: dict[str, Any]) -> Resolver:
    """Evaluates an intrinsic-function expression for the example stack, with the parameters' defaults and
    the example model ARNs; Ref and GetAtt of resources give what CloudFormation would for their names."""
    parameters = {
        name: str(spec.get("Default", ""))
        for name, spec in transformed_template.get("Parameters", {}).items()
    }
    parameters.update(EXAMPLE_PARAMETERS)
    mappings: Mapping[str, Any] = transformed_template.get("Mappings", {})
    resources: Mapping[str, Any] = transformed_template["Resources"]

    def named(logical_id: str, name_property: str) -> str:
        return str(evaluate(resources[logical_id]["Properties"][name_property]))

    def ref(name: str) -> str:
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in parameters:
            return parameters[name]
        resource_type = resources[name]["Type"]
        if resource_type == "AWS::S3::Bucket":
            return named(name, "BucketName")
        if resource_type == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{named(name, 'QueueName')}"
        if resource_type == "AWS::SSM::Parameter":
            return named(name, "Name")
        if resource_type == "AWS::StepFunctions::StateMachine":
            return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{named(name, 'StateMachineName')}"
        if resource_type == "AWS::Lambda::EventSourceMapping":
            return EXAMPLE_MAPPING_UUID
        return f"<{name}>"

    def get_att(logical_id: str, attribute: str) -> str:
        resource_type = resources[logical_id]["Type"]
        if (resource_type, attribute) == ("AWS::S3::Bucket", "Arn"):
            return f"arn:aws:s3:::{named(logical_id, 'BucketName')}"
        if (resource_type, attribute) == ("AWS::SQS::Queue", "Arn"):
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{named(logical_id, 'QueueName')}"
        if (resource_type, attribute) == ("AWS::SQS::Queue", "QueueName"):
            return named(logical_id, "QueueName")
        return f"<{logical_id}.{attribute}>"

    def sub(pattern: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(evaluate(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return get_att(logical_id, attribute)
            return ref(name)

        return re.sub(r"\$\{([^}!][^}]*)\}", replace, pattern)

    def evaluate(value: Any) -> Any:
        if isinstance(value, list):
            return [evaluate(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Ref", "Fn::")):
            return {key: evaluate(item) for key, item in value.items()}
        ((function, argument),) = value.items()
        if function == "Ref":
            return ref(argument)
        if function == "Fn::GetAtt":
            return get_att(*argument)
        if function == "Fn::Sub":
            return sub(argument, {}) if isinstance(argument, str) else sub(argument[0], argument[1])
        if function == "Fn::Select":
            return evaluate(argument[1])[int(evaluate(argument[0]))]
        if function == "Fn::Split":
            return str(evaluate(argument[1])).split(argument[0])
        if function == "Fn::Join":
            return argument[0].join(str(item) for item in evaluate(argument[1]))
        if function == "Fn::FindInMap":
            table, key, item = (evaluate(part) for part in argument)
            return mappings[table][key][item]
        raise AssertionError(f"the tests cannot evaluate {function}")

    return evaluate


@pytest.fixture(scope="session")
def state_machine_definition_path(sam_template: dict[str, Any]) -> Path:
    uri: str = sam_template["Resources"]["BatchRunStateMachine"]["Properties"]["DefinitionUri"]
    return REPO_ROOT / uri
