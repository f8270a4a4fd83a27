"""Planning a deployment (SAM transform, parameters, rules, supported types, order) without a service."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_testing import (
    ACCOUNT_ID,
    EXAMPLE_PARAMETERS,
    FIXTURE_TEMPLATE,
    REAL_TEMPLATE,
    REGION,
    needs_real_template,
)

from labelbatch.local.deploy import (
    SUPPORTED_RESOURCE_TYPES,
    RuleFailedError,
    StackPlan,
    TemplateError,
    UnsupportedResourceError,
    plan_stack,
)


def plan(template: Path, parameters: dict[str, str] | None = None) -> StackPlan:
    return plan_stack(
        template, stack_name="plan-test", parameters=parameters or {}, region=REGION, account_id=ACCOUNT_ID
    )


def test_the_fixture_is_transformed_and_ordered() -> None:
    # Given the fixture SAM template with default parameters (dev, no alarm email)
    # When it is planned
    result = plan(FIXTURE_TEMPLATE)
    resources = result.template["Resources"]
    # Then the SAM resources became CloudFormation ones, with the roles and schedules SAM generates
    assert resources["WorkerFunction"]["Type"] == "AWS::Lambda::Function"
    assert resources["Flow"]["Type"] == "AWS::StepFunctions::StateMachine"
    assert {"WorkerFunctionRole", "WorkerFunctionTick", "FlowRole", "FlowHourly"} <= set(resources)
    # And the resources whose condition is false are left out of the order
    assert "ProdOnlyQueue" not in result.order
    assert "AlarmEmailSubscription" not in result.order
    assert len(result.order) == len(resources) - 2
    # And dependencies come first: the queue policy before the bucket (DependsOn), the queue before both
    assert (
        result.order.index("WorkQueue") < result.order.index("WorkQueuePolicy") < result.order.index("Bucket")
    )
    assert result.order.index("WorkerFunctionRole") < result.order.index("WorkerFunction")
    assert result.order.index("WorkerMapping") < result.order.index("Flow")
    # And the template's directory is where local CodeUri and DefinitionUri paths are read from
    assert result.base_dir == FIXTURE_TEMPLATE.parent


def test_a_condition_switched_on_by_a_parameter_includes_its_resources() -> None:
    # Given the fixture planned for prod with an alarm email
    # When it is planned
    result = plan(FIXTURE_TEMPLATE, {"Stage": "prod", "AlarmEmail": "ops@example.com"})
    # Then the conditional resources are created too
    assert {"ProdOnlyQueue", "AlarmEmailSubscription"} <= set(result.order)


def test_a_failing_rule_stops_the_plan() -> None:
    # Given the same prefix for inputs and results, which the fixture's rule forbids
    # When the stack is planned
    # Then the rule's description is the error
    with pytest.raises(RuleFailedError, match="InputPrefix and ResultsPrefix must differ"):
        plan(FIXTURE_TEMPLATE, {"InputPrefix": "same/", "ResultsPrefix": "same/"})


def test_an_unsupported_resource_type_is_named_before_anything_is_created(tmp_path: Path) -> None:
    # Given a template with a VPC, which the local deployer cannot create, behind a false condition
    template = tmp_path / "template.yaml"
    template.write_text(
        "Conditions:\n"
        "  Never: !Equals [a, b]\n"
        "Resources:\n"
        "  Queue:\n"
        "    Type: AWS::SQS::Queue\n"
        "  Network:\n"
        "    Type: AWS::EC2::VPC\n"
        "    Condition: Never\n"
        "    Properties:\n"
        "      CidrBlock: 10.0.0.0/16\n",
        encoding="utf-8",
    )
    # When it is planned
    # Then the error names the type and the logical id (a condition never hides an unknown type)
    with pytest.raises(UnsupportedResourceError) as raised:
        plan(template)
    assert str(raised.value) == (
        "resource Network has type AWS::EC2::VPC, which the local deployer does not support"
    )
    assert (raised.value.resource_type, raised.value.logical_id) == ("AWS::EC2::VPC", "Network")


def test_a_file_without_resources_is_not_a_template(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("Parameters: {}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="is not a CloudFormation template with Resources"):
        plan(template)


def test_an_invalid_sam_resource_reports_the_translator_message(tmp_path: Path) -> None:
    # Given a SAM function without a handler or runtime
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Broken:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      CodeUri: functions/\n"
        "      Events: not-a-map\n",
        encoding="utf-8",
    )
    # When it is planned
    # Then the SAM transform's own message names the resource
    with pytest.raises(TemplateError, match=r"the SAM transform failed: .*Broken"):
        plan(template)


@needs_real_template
def test_the_real_template_uses_only_supported_types_and_orders_its_resources() -> None:
    # Given the project's template with the demo model's ARNs
    # When it is planned
    result = plan(REAL_TEMPLATE, EXAMPLE_PARAMETERS)
    resources = result.template["Resources"]
    # Then every resource type is one the deployer creates
    assert {resource["Type"] for resource in resources.values()} <= SUPPORTED_RESOURCE_TYPES
    # And the resources named in the contract are all there, the email subscription only with an email
    assert {
        "ImageBucket",
        "ImageBucketPolicy",
        "ImageQueue",
        "ImageQueuePolicy",
        "ImageDeadLetterQueue",
        "AnalyzeImageFunction",
        "AnalyzeImageLogGroup",
        "ImageQueueEventSourceMapping",
        "BatchRunStateMachine",
        "BatchRunLogGroup",
        "ModelStartMarkerParameter",
        "ModelReaperFunction",
        "ModelReaperLogGroup",
        "AlarmTopic",
        "DeadLetterQueueNotEmptyAlarm",
        "BatchRunFailedAlarm",
        "AnalyzeImageErrorsAlarm",
        "ModelReapedAlarm",
    } <= set(result.order)
    assert "AlarmEmailSubscription" not in result.order
    # And the bucket (whose notification S3 validates against the queue policy) comes after that policy
    assert result.order.index("ImageQueuePolicy") < result.order.index("ImageBucket")
    assert result.order.index("ImageQueueEventSourceMapping") < result.order.index("BatchRunStateMachine")
