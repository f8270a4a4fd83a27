"""Issue 10, item 7: no valid stack name or region makes a name over AWS's limits; two stacks share none.

Every name the template sets is evaluated for the longest stack name CloudFormation allows in the region with
the longest name in botocore's endpoint data; every resource type whose names are short (state machine,
functions, tables, schedules) is left for CloudFormation to name, which keeps its names within each limit.
"""

from __future__ import annotations

import re
from typing import Any

import botocore.loaders

from labelbatch.local.deploy import StackPlan
from support.template import ACCOUNT, NAME_PROPERTIES, STACK_GUID, example_evaluator, plan

# CloudFormation: a stack name starts with a letter, holds letters, digits and hyphens, and has 128 at most.
STACK_NAME_PATTERN = re.compile(r"[a-zA-Z][-a-zA-Z0-9]{0,127}")
LONGEST_STACK_NAME = "A" + "-b" * 63 + "C"

# AWS's limit for each name, and the characters it may hold, per type (each service's documented quotas).
NAME_LIMITS: dict[str, tuple[int, re.Pattern[str]]] = {
    # Globally unique, lowercase: a stack name (which may hold capitals) cannot be part of it.
    "AWS::S3::Bucket": (63, re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]")),
    "AWS::SQS::Queue": (80, re.compile(r"[a-zA-Z0-9_-]+")),
    "AWS::Logs::LogGroup": (512, re.compile(r"[\.\-_/#A-Za-z0-9]+")),
    "AWS::StepFunctions::StateMachine": (80, re.compile(r"[a-zA-Z0-9_-]+")),
    "AWS::Lambda::Function": (64, re.compile(r"[a-zA-Z0-9_-]+")),
    "AWS::DynamoDB::Table": (255, re.compile(r"[a-zA-Z0-9_.-]+")),
    "AWS::Scheduler::Schedule": (64, re.compile(r"[0-9a-zA-Z-_.]+")),
    "AWS::IAM::Role": (64, re.compile(r"[\w+=,.@-]+")),
    "AWS::SNS::Topic": (256, re.compile(r"[a-zA-Z0-9_-]+")),
    "AWS::CloudWatch::Alarm": (255, re.compile(r"[^\x00-\x1f]+")),
}
# SSM counts the parameter's whole ARN (arn:<partition>:ssm:<region>:<account>:parameter/...) towards 1,011
# characters (PutParameter's documentation), and allows at most 15 levels.
SSM_PARAMETER_ARN_LIMIT = 1011
SSM_PARAMETER_LEVELS = 15
SSM_PARAMETER_NAME = re.compile(r"[a-zA-Z0-9_.\-/]+")
# Left unnamed, so that CloudFormation's generated names (which it fits to each limit) apply.
UNNAMED_TYPES = {
    "AWS::StepFunctions::StateMachine",
    "AWS::Lambda::Function",
    "AWS::DynamoDB::Table",
    "AWS::Scheduler::Schedule",
}


def regions() -> dict[str, str]:
    """Every region in botocore's endpoint data, with its partition."""
    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    return {
        region: partition["partition"]
        for partition in endpoints["partitions"]
        for region in partition["regions"]
    }


def explicit_names(planned: StackPlan, *, stack_guid: str = STACK_GUID) -> dict[str, tuple[str, str]]:
    """logical id -> (type, name) of every resource of the deployment whose name the template sets."""
    evaluator = example_evaluator(planned, stack_guid=stack_guid)
    resources: dict[str, Any] = planned.template["Resources"]
    names = {}
    for logical_id in planned.order:
        resource_type = resources[logical_id]["Type"]
        declared = resources[logical_id].get("Properties", {}).get(NAME_PROPERTIES.get(resource_type, ""))
        if declared is not None:
            names[logical_id] = (resource_type, str(evaluator.resolve(declared)))
    return names


def test_every_name_the_template_sets_fits_aws_limits_for_the_longest_stack_and_region() -> None:
    # Given the longest stack name CloudFormation allows, in the region with the longest name
    assert len(LONGEST_STACK_NAME) == 128
    assert STACK_NAME_PATTERN.fullmatch(LONGEST_STACK_NAME)
    region, partition = max(regions().items(), key=lambda item: len(item[0]))
    names = explicit_names(plan(stack_name=LONGEST_STACK_NAME, region=region))

    # When each name the template sets is checked against its type's limit
    too_long_or_invalid = {
        logical_id: name
        for logical_id, (resource_type, name) in names.items()
        if resource_type in NAME_LIMITS
        and not (len(name) <= NAME_LIMITS[resource_type][0] and NAME_LIMITS[resource_type][1].fullmatch(name))
    }
    parameters = {
        logical_id: name
        for logical_id, (resource_type, name) in names.items()
        if resource_type == "AWS::SSM::Parameter"
    }

    # Then every one fits, the SSM parameter names with their ARN and levels too
    assert {resource_type for resource_type, _ in names.values()} >= {
        "AWS::S3::Bucket",
        "AWS::SQS::Queue",
        "AWS::SSM::Parameter",
        "AWS::Logs::LogGroup",
    }
    assert {resource_type for resource_type, _ in names.values()} <= {*NAME_LIMITS, "AWS::SSM::Parameter"}
    assert too_long_or_invalid == {}
    for logical_id, name in parameters.items():
        arn = f"arn:{partition}:ssm:{region}:{ACCOUNT}:parameter{name}"
        assert len(arn) <= SSM_PARAMETER_ARN_LIMIT, logical_id
        assert SSM_PARAMETER_NAME.fullmatch(name), logical_id
        assert len(name.strip("/").split("/")) <= SSM_PARAMETER_LEVELS, logical_id


def test_cloudformation_names_the_state_machine_functions_tables_and_schedules(
    resources: dict[str, dict[str, Any]],
) -> None:
    named = {
        logical_id: resource["Properties"][NAME_PROPERTIES[resource["Type"]]]
        for logical_id, resource in resources.items()
        if resource["Type"] in UNNAMED_TYPES
        and NAME_PROPERTIES[resource["Type"]] in resource.get("Properties", {})
    }

    assert named == {}
    assert {resource["Type"] for resource in resources.values()} >= UNNAMED_TYPES


def test_two_stacks_in_one_account_and_region_share_no_name() -> None:
    # Given two stacks of the template in one account and region, each with its own stack id
    first = explicit_names(plan(stack_name="labelbatch"), stack_guid="11111111-2222-4333-8444-555555555555")
    second = explicit_names(
        plan(stack_name="labelbatch-test"), stack_guid="66666666-7777-4888-9999-000000000000"
    )

    # Then no name the template sets is the same in both
    assert set(first) == set(second)
    assert {logical_id for logical_id in first if first[logical_id] == second[logical_id]} == set()
