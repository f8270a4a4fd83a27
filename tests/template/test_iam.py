"""Least privilege after the SAM transform: no wildcard actions, Rekognition only on the two model ARNs,
S3 reads only under InputPrefix and writes only under ResultsPrefix, the consumer switch only on this mapping,
and no AWS managed policy beyond logging and tracing."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from .support import (
    ACCOUNT,
    EXAMPLE_MAPPING_UUID,
    EXAMPLE_PROJECT_ARN,
    EXAMPLE_PROJECT_VERSION_ARN,
    REGION,
    STACK_NAME,
    Resolver,
    allow_statements,
    as_list,
    iter_role_documents,
)

pytestmark = pytest.mark.template

Resources = dict[str, dict[str, Any]]

BUCKET_ARN = f"arn:aws:s3:::labelbatch-images-{ACCOUNT}-{REGION}-1a2b3c4d"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:labelbatch-1a2b3c4d-images"
MAPPING_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{EXAMPLE_MAPPING_UUID}"
MARKER_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/labelbatch/{STACK_NAME}/model-start-marker"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK_NAME}-batch-run"

# Step Functions log delivery: these actions take no resource-level permission, so AWS documents Resource "*".
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:CreateLogStream",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutLogEvents",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
# The only AWS managed policies SAM may attach: CloudWatch Logs writes and X-Ray segment writes, nothing on
# SQS, S3 or Rekognition (in particular not AWSLambdaSQSQueueExecutionRole, which grants SQS on "*").
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY_WRITE = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"

# Which resource each Rekognition action may name, per the Service Authorization Reference:
# DescribeProjectVersions takes the project resource type, the others the project version resource type.
REKOGNITION_RESOURCES = {
    "rekognition:DescribeProjectVersions": {EXAMPLE_PROJECT_ARN},
    "rekognition:StartProjectVersion": {EXAMPLE_PROJECT_VERSION_ARN},
    "rekognition:StopProjectVersion": {EXAMPLE_PROJECT_VERSION_ARN},
    "rekognition:DetectCustomLabels": {EXAMPLE_PROJECT_VERSION_ARN},
}


def granted(resources: Resources, resolve: Resolver) -> dict[str, dict[str, set[str]]]:
    """role -> action -> the resolved resources its Allow statements name."""
    grants: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for role, document in iter_role_documents(resources):
        for statement in allow_statements(document):
            for action in as_list(statement["Action"]):
                grants[role][action].update(
                    str(resource) for resource in as_list(resolve(statement["Resource"]))
                )
    return grants


def every_allow_statement(resources: Resources) -> list[tuple[str, dict[str, Any]]]:
    """Allow statements of identity policies and of the bucket, queue and topic resource policies."""
    statements = [
        (logical_id, statement)
        for logical_id, document in iter_role_documents(resources)
        for statement in allow_statements(document)
    ]
    for logical_id, resource in resources.items():
        if resource["Type"] in {"AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"}:
            statements += [
                (logical_id, statement)
                for statement in allow_statements(resource["Properties"]["PolicyDocument"])
            ]
    return statements


def test_no_allow_statement_has_a_wildcard_action(resources: Resources) -> None:
    wildcards = [
        (logical_id, action)
        for logical_id, statement in every_allow_statement(resources)
        for action in as_list(statement.get("Action", []))
        if "*" in action
    ]

    assert wildcards == []
    assert not any("NotAction" in statement for _, statement in every_allow_statement(resources))


def test_only_log_delivery_actions_name_every_resource(resources: Resources, resolve: Resolver) -> None:
    on_everything = {
        (role, action)
        for role, actions in granted(resources, resolve).items()
        for action, named in actions.items()
        if "*" in named
    }

    assert on_everything == {("BatchRunStateMachineRole", action) for action in LOG_DELIVERY_ACTIONS}


def test_managed_policies_are_only_logging_and_tracing(resources: Resources) -> None:
    attached = {
        logical_id: resource["Properties"].get("ManagedPolicyArns", [])
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
    }

    assert attached == {
        "AnalyzeImageFunctionRole": [BASIC_EXECUTION, XRAY_WRITE],
        "ModelReaperFunctionRole": [BASIC_EXECUTION, XRAY_WRITE],
        "BatchRunStateMachineRole": [XRAY_WRITE],
        "BatchRunStateMachineBatchRunScheduleRole": [],
        "ModelReaperFunctionReaperScheduleRole": [],
    }


def test_roles_are_assumed_only_by_their_service(resources: Resources) -> None:
    trusted = {
        logical_id: [
            statement["Principal"]["Service"]
            for statement in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        ]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
    }

    assert trusted == {
        "AnalyzeImageFunctionRole": [["lambda.amazonaws.com"]],
        "ModelReaperFunctionRole": [["lambda.amazonaws.com"]],
        "BatchRunStateMachineRole": [["states.amazonaws.com"]],
        "BatchRunStateMachineBatchRunScheduleRole": [["scheduler.amazonaws.com"]],
        "ModelReaperFunctionReaperScheduleRole": [["scheduler.amazonaws.com"]],
    }


def test_each_role_gets_exactly_its_permissions(resources: Resources, resolve: Resolver) -> None:
    grants = granted(resources, resolve)
    exact = {role: {action: named for action, named in actions.items()} for role, actions in grants.items()}

    assert exact["AnalyzeImageFunctionRole"] == {
        "rekognition:DetectCustomLabels": {EXAMPLE_PROJECT_VERSION_ARN},
        "s3:GetObject": {f"{BUCKET_ARN}/images/*"},
        "s3:GetObjectVersion": {f"{BUCKET_ARN}/images/*"},
        # Key names only: it makes S3 answer 404, not 403, for an image deleted before analysis.
        "s3:ListBucket": {BUCKET_ARN},
        "s3:PutObject": {f"{BUCKET_ARN}/results/*"},
        "sqs:ReceiveMessage": {QUEUE_ARN},
        "sqs:DeleteMessage": {QUEUE_ARN},
        "sqs:GetQueueAttributes": {QUEUE_ARN},
        "sqs:ChangeMessageVisibility": {QUEUE_ARN},
    }
    assert exact["ModelReaperFunctionRole"] == {
        "rekognition:DescribeProjectVersions": {EXAMPLE_PROJECT_ARN},
        "rekognition:StopProjectVersion": {EXAMPLE_PROJECT_VERSION_ARN},
        "lambda:GetEventSourceMapping": {MAPPING_ARN},
        "lambda:UpdateEventSourceMapping": {MAPPING_ARN},
        "sqs:GetQueueAttributes": {QUEUE_ARN},
        "ssm:GetParameter": {MARKER_ARN},
        "ssm:PutParameter": {MARKER_ARN},
        "states:ListExecutions": {STATE_MACHINE_ARN},
    }
    assert exact["BatchRunStateMachineRole"] == {
        "states:ListExecutions": {STATE_MACHINE_ARN},
        "sqs:GetQueueAttributes": {QUEUE_ARN},
        "rekognition:DescribeProjectVersions": {EXAMPLE_PROJECT_ARN},
        "rekognition:StartProjectVersion": {EXAMPLE_PROJECT_VERSION_ARN},
        "rekognition:StopProjectVersion": {EXAMPLE_PROJECT_VERSION_ARN},
        "lambda:GetEventSourceMapping": {MAPPING_ARN},
        "lambda:UpdateEventSourceMapping": {MAPPING_ARN},
        "ssm:GetParameter": {MARKER_ARN},
        "ssm:PutParameter": {MARKER_ARN},
        **{action: {"*"} for action in LOG_DELIVERY_ACTIONS},
    }
    assert exact["BatchRunStateMachineBatchRunScheduleRole"] == {"states:StartExecution": {STATE_MACHINE_ARN}}
    assert exact["ModelReaperFunctionReaperScheduleRole"] == {
        "lambda:InvokeFunction": {"<ModelReaperFunction.Arn>"}
    }


def test_rekognition_actions_name_only_the_two_model_arns(resources: Resources, resolve: Resolver) -> None:
    for role, actions in granted(resources, resolve).items():
        for action, named in actions.items():
            if action.startswith("rekognition:"):
                assert named == REKOGNITION_RESOURCES[action], (role, action)


def test_s3_reads_only_under_the_input_prefix_and_writes_only_under_the_results_prefix(
    resources: Resources, resolve: Resolver
) -> None:
    s3_grants = {
        (action, resource)
        for actions in granted(resources, resolve).values()
        for action, named in actions.items()
        if action.startswith("s3:")
        for resource in named
    }

    assert s3_grants == {
        ("s3:GetObject", f"{BUCKET_ARN}/images/*"),
        ("s3:GetObjectVersion", f"{BUCKET_ARN}/images/*"),
        ("s3:ListBucket", BUCKET_ARN),
        ("s3:PutObject", f"{BUCKET_ARN}/results/*"),
    }


def test_the_consumer_switch_names_only_this_mapping(resources: Resources, resolve: Resolver) -> None:
    for actions in granted(resources, resolve).values():
        for action in ("lambda:UpdateEventSourceMapping", "lambda:GetEventSourceMapping"):
            assert actions.get(action, {MAPPING_ARN}) == {MAPPING_ARN}


def test_the_state_machine_lists_executions_of_itself(resources: Resources, resolve: Resolver) -> None:
    # The role names the state machine by its fixed name (a reference would be circular): it must match.
    assert resolve({"Ref": "BatchRunStateMachine"}) == STATE_MACHINE_ARN
    assert granted(resources, resolve)["BatchRunStateMachineRole"]["states:ListExecutions"] == {
        STATE_MACHINE_ARN
    }


def sdk_integration_actions(definition_path: Path) -> set[str]:
    """IAM actions of the definition's SDK tasks: aws-sdk:sfn:listExecutions -> states:ListExecutions."""
    integrations = re.findall(
        r'"Resource"\s*:\s*"arn:aws:states:::aws-sdk:([a-z0-9]+):(\w+)"', definition_path.read_text()
    )
    prefixes = {"sfn": "states"}
    return {
        f"{prefixes.get(service, service)}:{action[0].upper()}{action[1:]}"
        for service, action in integrations
    }


def test_the_state_machine_may_call_every_sdk_integration_of_its_definition(
    resources: Resources, resolve: Resolver, state_machine_definition_path: Path
) -> None:
    json.loads(state_machine_definition_path.read_text())
    needed = sdk_integration_actions(state_machine_definition_path)

    assert needed
    assert needed <= set(granted(resources, resolve)["BatchRunStateMachineRole"])
