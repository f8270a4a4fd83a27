"""The example stack the template tests evaluate template.yaml for, and walks over its documents.

The template is read, transformed and evaluated by the local deployer (`labelbatch.local.deploy`), the code
that deploys it onto the local stack. Only what a plan without services cannot know is here: a fixed stack
id, and what `Ref` and `Fn::GetAtt` of each resource type give on AWS (`RETURN_VALUES`), from the name the
template sets or the one CloudFormation would generate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonata

from labelbatch.local.deploy import StackPlan, TemplateError, plan_stack
from labelbatch.local.deploy.intrinsics import TemplateEvaluator, scalar_text
from labelbatch.local.deploy.template import load_template as load_template

# Evaluates an intrinsic-function expression to what CloudFormation would make of it for one stack.
Resolver = Callable[[Any], Any]

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
DEFINITION_PATH = REPO_ROOT / "statemachine" / "batch_run.asl.json"

# The example stack every resolved string refers to.
ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK_NAME = "labelbatch"
STACK_GUID = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
EXAMPLE_PROJECT_ARN = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/defects/1761990000000"
EXAMPLE_VERSION_NAME = "defects.2025-11-01T10.00.00"
EXAMPLE_PROJECT_VERSION_ARN = (
    f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/defects/version/{EXAMPLE_VERSION_NAME}/1761991200000"
)
EXAMPLE_PARAMETERS: dict[str, str] = {
    "ProjectArn": EXAMPLE_PROJECT_ARN,
    "ProjectVersionArn": EXAMPLE_PROJECT_VERSION_ARN,
}
# Identifiers AWS assigns rather than names: Ref of an event source mapping (its UUID) and of a KMS key.
EXAMPLE_MAPPING_UUID = "6c4f1e2a-9b7d-4e0f-8a1b-2c3d4e5f6a7b"
EXAMPLE_KEY_ID = "0f1e2d3c-4b5a-4987-8654-3210fedcba98"
# CloudFormation names a resource the template leaves unnamed <stack name>-<logical id>-<random suffix>.
GENERATED_SUFFIX = "EXAMPLE1A2B3C"


@dataclass(frozen=True)
class _Stack:
    partition: str
    region: str
    account: str

    def arn(self, service: str, resource: str) -> str:
        """The ARN of a regional resource of this stack's account."""
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"


def _queue(name: str, stack: _Stack) -> dict[str | None, str]:
    return {
        None: f"https://sqs.{stack.region}.amazonaws.com/{stack.account}/{name}",
        "Arn": stack.arn("sqs", name),
        "QueueName": name,
    }


def _state_machine(name: str, stack: _Stack) -> dict[str | None, str]:
    arn = stack.arn("states", f"stateMachine:{name}")
    return {None: arn, "Arn": arn, "Name": name}


def _topic(name: str, stack: _Stack) -> dict[str | None, str]:
    arn = stack.arn("sns", name)
    return {None: arn, "TopicArn": arn, "TopicName": name}


def _key(_: str, stack: _Stack) -> dict[str | None, str]:
    return {None: EXAMPLE_KEY_ID, "KeyId": EXAMPLE_KEY_ID, "Arn": stack.arn("kms", f"key/{EXAMPLE_KEY_ID}")}


# What Ref (None) and each Fn::GetAtt attribute give for a resource of each type named `name`, per the
# "Return values" of each type in the CloudFormation template reference. An SSM parameter's Value is its
# evaluated Value property (see `example_evaluator`).
RETURN_VALUES: dict[str, Callable[[str, _Stack], dict[str | None, str]]] = {
    "AWS::S3::Bucket": lambda name, stack: {None: name, "Arn": f"arn:{stack.partition}:s3:::{name}"},
    "AWS::SQS::Queue": _queue,
    "AWS::SSM::Parameter": lambda name, stack: {None: name},
    "AWS::Logs::LogGroup": lambda name, stack: {None: name, "Arn": stack.arn("logs", f"log-group:{name}:*")},
    "AWS::Lambda::Function": lambda name, stack: {None: name, "Arn": stack.arn("lambda", f"function:{name}")},
    "AWS::Lambda::EventSourceMapping": lambda _, stack: {
        None: EXAMPLE_MAPPING_UUID,
        "Id": EXAMPLE_MAPPING_UUID,
    },
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::DynamoDB::Table": lambda name, stack: {None: name, "Arn": stack.arn("dynamodb", f"table/{name}")},
    "AWS::IAM::Role": lambda name, stack: {
        None: name,
        "Arn": f"arn:{stack.partition}:iam::{stack.account}:role/{name}",
    },
    "AWS::Scheduler::Schedule": lambda name, stack: {
        None: name,
        "Arn": stack.arn("scheduler", f"schedule/default/{name}"),
    },
    "AWS::SNS::Topic": _topic,
    "AWS::KMS::Key": _key,
    "AWS::CloudWatch::Alarm": lambda name, stack: {
        None: name,
        "Arn": stack.arn("cloudwatch", f"alarm:{name}"),
    },
}

# The property that names a resource of each type, where the template may set it.
NAME_PROPERTIES: dict[str, str] = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SSM::Parameter": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
}


def plan(
    parameters: Mapping[str, str] | None = None, *, stack_name: str = STACK_NAME, region: str = REGION
) -> StackPlan:
    """The example stack's deployment as the local deployer plans it: parameters validated, rules checked,
    the SAM transform applied and the resources whose condition holds put in creation order."""
    return plan_stack(
        TEMPLATE_PATH,
        stack_name=stack_name,
        parameters={**EXAMPLE_PARAMETERS, **(parameters or {})},
        region=region,
        account_id=ACCOUNT,
    )


def example_evaluator(planned: StackPlan, *, stack_guid: str = STACK_GUID) -> TemplateEvaluator:
    """The deployer's evaluator for a planned stack whose id ends in `stack_guid`, where Ref and Fn::GetAtt of
    a resource give what CloudFormation would (`RETURN_VALUES`) without creating anything."""
    values = dict(planned.values)
    stack = _Stack(
        partition=str(values["AWS::Partition"]), region=str(values["AWS::Region"]), account=ACCOUNT
    )
    stack_name = str(values["AWS::StackName"])
    values["AWS::StackId"] = stack.arn("cloudformation", f"stack/{stack_name}/{stack_guid}")
    resources: Mapping[str, Any] = planned.template["Resources"]

    def physical_name(logical_id: str, resource: Mapping[str, Any]) -> str:
        name_property = NAME_PROPERTIES.get(resource["Type"], "")
        declared = resource.get("Properties", {}).get(name_property)
        if declared is not None:
            return scalar_text(evaluator.resolve(declared), f"{logical_id}.{name_property}")
        generated = f"{stack_name}-{logical_id}-{GENERATED_SUFFIX}"
        return generated.lower() if resource["Type"] == "AWS::S3::Bucket" else generated

    def lookup(logical_id: str, attribute: str | None) -> str:
        resource = resources.get(logical_id)
        if resource is None or not evaluator.is_included(resource):
            raise TemplateError(f"{logical_id} is not a resource of this deployment")
        if (resource["Type"], attribute) == ("AWS::SSM::Parameter", "Value"):
            return scalar_text(evaluator.resolve(resource["Properties"]["Value"]), f"{logical_id}.Value")
        if resource["Type"] not in RETURN_VALUES:
            raise TemplateError(f"the example stack does not know what {resource['Type']} returns")
        returned = RETURN_VALUES[resource["Type"]](physical_name(logical_id, resource), stack)
        if attribute not in returned:
            raise TemplateError(f"the example stack does not know {logical_id}.{attribute}")
        return returned[attribute]

    evaluator = TemplateEvaluator(planned.template, values, lookup)
    return evaluator


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


def of_type(resources: Mapping[str, Mapping[str, Any]], resource_type: str) -> dict[str, Mapping[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource["Type"] == resource_type
    }


def sdk_tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, state) of every SDK integration Task, inside Parallel branches and Map processors too."""
    for name, state in states.items():
        if state["Type"] == "Task" and state["Resource"].startswith("arn:aws:states:::aws-sdk:"):
            yield name, state
        for branch in state.get("Branches", []):
            yield from sdk_tasks(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from sdk_tasks(processor["States"])


def substituted_definition(
    resources: Mapping[str, Mapping[str, Any]], resolve: Resolver, definition_path: Path
) -> dict[str, Any]:
    """The definition as CloudFormation deploys it for the example stack: each ${Name} replaced by its
    resolved DefinitionSubstitutions value (what Fn::Sub with a variable map does)."""
    substitutions = resources["BatchRunStateMachine"]["Properties"]["DefinitionSubstitutions"]
    text = definition_path.read_text(encoding="utf-8")
    definition: dict[str, Any] = json.loads(resolve({"Fn::Sub": [text, substitutions]}))
    return definition


_JSONATA = re.compile(r"^\{%(.*)%\}$", re.DOTALL)


def evaluate_jsonata(template: Any, state_input: Any, context: Mapping[str, Any] | None = None) -> Any:
    """A JSONata state's Arguments or Output as Step Functions evaluates it: each "{% ... %}" string, alone or
    inside objects and lists, is an expression over $states.input (and $states.context)."""
    if isinstance(template, dict):
        return {key: evaluate_jsonata(value, state_input, context) for key, value in template.items()}
    if isinstance(template, list):
        return [evaluate_jsonata(value, state_input, context) for value in template]
    if isinstance(template, str) and (expression := _JSONATA.match(template)):
        states = {"input": state_input, "context": dict(context or {})}
        return jsonata.Jsonata(expression.group(1)).evaluate(None, {"states": states})
    return template


def run_input(definition: Mapping[str, Any], waiting: int = 1) -> dict[str, Any]:
    """What the run's body reads once it has counted `waiting` images: Load Settings' output (the deployed
    settings as numbers) and the backlog."""
    loaded: dict[str, Any] = evaluate_jsonata(definition["States"]["Load Settings"]["Output"], {})
    return {**loaded, "backlog": {"waiting": waiting}}


def deployed_definition(parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The definition as CloudFormation deploys it for the example stack with these parameters."""
    planned = plan(parameters)
    return substituted_definition(
        planned.template["Resources"], example_evaluator(planned).resolve, DEFINITION_PATH
    )
