"""The stack's parameters, validated by the local deployer as CloudFormation validates them: the names the
contract keeps, patterns that let a real model ARN through and stop a mistyped one before any resource is
created, and bounds that agree with what the functions, the definition and the AWS APIs accept."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from analyze_image.settle import MAX_RETRY_DELAY_SECONDS
from labelbatch.local.deploy import RuleFailedError, TemplateError
from labelbatch.local.deploy.intrinsics import resolve_parameters
from support.template import (
    EXAMPLE_PARAMETERS,
    EXAMPLE_PROJECT_ARN,
    EXAMPLE_PROJECT_VERSION_ARN,
    deployed_definition,
    plan,
    run_input,
)

# The contract: deployments, samconfig files and the ops CLI name these.
PARAMETER_NAMES = {
    "ProjectArn",
    "ProjectVersionArn",
    "MinInferenceUnits",
    "MaxInferenceUnits",
    "DrainTargetMinutes",
    "MinConfidence",
    "ScheduleExpression",
    "ScheduleState",
    "InputPrefix",
    "ResultsPrefix",
    "PollIntervalSeconds",
    "ModelStartTimeoutMinutes",
    "MaxRunMinutes",
    "TpsPerInferenceUnit",
    "ConsumerMaxConcurrency",
    "RetryDelaySeconds",
    "AlarmEmail",
}


def accepts(sam_template: dict[str, Any], name: str, value: str) -> bool:
    """Whether CloudFormation's parameter validation (the deployer's) lets `value` through for `name`."""
    try:
        resolve_parameters(sam_template["Parameters"], {**EXAMPLE_PARAMETERS, name: value})
    except TemplateError:
        return False
    return True


def api_bounds(service: str, shape: str, member: str) -> tuple[int, int | None]:
    """The minimum and maximum botocore's model of the AWS API gives a number."""
    model = botocore.session.get_session().get_service_model(service).shape_for(shape).members[member]
    return model.metadata["min"], model.metadata.get("max")


def test_parameters_are_the_contract_names(sam_template: dict[str, Any]) -> None:
    assert set(sam_template["Parameters"]) == PARAMETER_NAMES


def test_only_the_two_model_arns_are_required(sam_template: dict[str, Any]) -> None:
    # Given only the two model ARNs, every other parameter takes a default that passes its own constraints
    resolve_parameters(sam_template["Parameters"], EXAMPLE_PARAMETERS)

    # And without either of them the deployment stops
    for required in EXAMPLE_PARAMETERS:
        others = {name: value for name, value in EXAMPLE_PARAMETERS.items() if name != required}
        with pytest.raises(TemplateError, match=f"parameter {required} has no default"):
            resolve_parameters(sam_template["Parameters"], others)


@pytest.mark.parametrize(
    "value",
    [
        EXAMPLE_PROJECT_ARN,
        "arn:aws-cn:rekognition:cn-north-1:123456789012:project/my_project.v2/1690000000000",
        "arn:aws-us-gov:rekognition:us-gov-west-1:123456789012:project/a-b/1",
    ],
)
def test_project_arn_pattern_accepts_project_arns(sam_template: dict[str, Any], value: str) -> None:
    assert accepts(sam_template, "ProjectArn", value)


@pytest.mark.parametrize(
    "value",
    [
        EXAMPLE_PROJECT_VERSION_ARN,
        "arn:aws:rekognition:us-east-1:123456789012:project/defects",
        "arn:aws:rekognition:us-east-1:12345678901:project/defects/1761990000000",
        "arn:aws:s3:::defects/1761990000000",
        "arn:aws:rekognition:us-east-1:123456789012:project/defects/1761990000000 ",
        "",
    ],
    ids=["version-arn", "no-timestamp", "short-account", "other-service", "trailing-space", "empty"],
)
def test_project_arn_pattern_rejects_anything_else(sam_template: dict[str, Any], value: str) -> None:
    assert not accepts(sam_template, "ProjectArn", value)


def test_version_arn_pattern_accepts_a_model_arn(sam_template: dict[str, Any]) -> None:
    assert accepts(sam_template, "ProjectVersionArn", EXAMPLE_PROJECT_VERSION_ARN)


@pytest.mark.parametrize(
    "value",
    [
        EXAMPLE_PROJECT_ARN,
        "arn:aws:rekognition:us-east-1:123456789012:project/defects/version/defects.2025-11-01T10.00.00",
        "arn:aws:rekognition:us-east-1:123456789012:project/defects/version//1761991200000",
        "",
    ],
    ids=["project-arn", "no-timestamp", "no-version-name", "empty"],
)
def test_version_arn_pattern_rejects_anything_else(sam_template: dict[str, Any], value: str) -> None:
    assert not accepts(sam_template, "ProjectVersionArn", value)


@pytest.mark.parametrize(
    ("value", "ok"), [("", True), ("1", True), ("12", True), ("0", False), ("two", False)]
)
def test_max_inference_units_is_empty_or_a_positive_integer(
    sam_template: dict[str, Any], value: str, ok: bool
) -> None:
    assert accepts(sam_template, "MaxInferenceUnits", value) is ok


def test_inference_units_start_where_rekognition_accepts_them(sam_template: dict[str, Any]) -> None:
    minimum, _ = api_bounds("rekognition", "StartProjectVersionRequest", "MinInferenceUnits")

    assert accepts(sam_template, "MinInferenceUnits", str(minimum))
    assert not accepts(sam_template, "MinInferenceUnits", str(minimum - 1))


@pytest.mark.parametrize(
    ("value", "ok"),
    [("", True), ("0", True), ("55", True), ("72.5", True), ("100", True), ("100.5", False), ("-1", False)],
)
def test_min_confidence_is_empty_or_0_to_100(sam_template: dict[str, Any], value: str, ok: bool) -> None:
    assert accepts(sam_template, "MinConfidence", value) is ok


@pytest.mark.parametrize("name", ["InputPrefix", "ResultsPrefix"])
@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("images/", True),
        ("team-a/incoming/", True),
        ("images", False),
        ("/images/", False),
        ("images//", False),
        ("", False),
        # A '*' would become a wildcard in the IAM resources built from the prefix.
        ("img*/", False),
    ],
)
def test_prefixes_end_with_a_slash_and_stay_literal(
    sam_template: dict[str, Any], name: str, value: str, ok: bool
) -> None:
    assert accepts(sam_template, name, value) is ok


def test_equal_prefixes_stop_the_deployment_before_any_resource() -> None:
    # Given the same prefix for images and results
    # When the stack is planned
    # Then the template's rule stops it, saying why
    with pytest.raises(RuleFailedError, match="InputPrefix and ResultsPrefix must differ"):
        plan({"InputPrefix": "images/", "ResultsPrefix": "images/"})


@pytest.mark.parametrize(("value", "ok"), [("", True), ("10", True), ("0", False), ("ten", False)])
def test_drain_target_is_empty_or_a_whole_number_of_minutes(
    sam_template: dict[str, Any], value: str, ok: bool
) -> None:
    assert accepts(sam_template, "DrainTargetMinutes", value) is ok


def test_a_drain_target_without_max_inference_units_is_rejected_at_deploy_time() -> None:
    # Given a drain target but no upper bound for the units it may choose
    # When the stack is planned
    # Then the template's rule stops it, saying what to set
    with pytest.raises(RuleFailedError, match="set MaxInferenceUnits too"):
        plan({"DrainTargetMinutes": "10"})
    plan({"DrainTargetMinutes": "10", "MaxInferenceUnits": "4"})


def test_consumer_concurrency_is_empty_or_what_the_event_source_mapping_accepts(
    sam_template: dict[str, Any],
) -> None:
    # Given the bounds Lambda puts on ScalingConfig.MaximumConcurrency
    minimum, maximum = api_bounds("lambda", "ScalingConfig", "MaximumConcurrency")
    assert maximum is not None

    # Then the parameter accepts empty (the run sizes the consumer) and exactly the whole numbers in them
    accepted = [
        number
        for number in range(maximum + 2)
        if accepts(sam_template, "ConsumerMaxConcurrency", str(number))
    ]
    assert accepted == list(range(minimum, maximum + 1))
    assert accepts(sam_template, "ConsumerMaxConcurrency", "")
    assert not accepts(sam_template, "ConsumerMaxConcurrency", "02")


def test_the_retry_delay_allows_exactly_what_the_function_accepts(sam_template: dict[str, Any]) -> None:
    # The function caps every delay at MAX_RETRY_DELAY_SECONDS and refuses a setting above it.
    assert accepts(sam_template, "RetryDelaySeconds", "1")
    assert accepts(sam_template, "RetryDelaySeconds", str(MAX_RETRY_DELAY_SECONDS))
    assert not accepts(sam_template, "RetryDelaySeconds", "0")
    assert not accepts(sam_template, "RetryDelaySeconds", str(MAX_RETRY_DELAY_SECONDS + 1))


@pytest.mark.parametrize(
    ("name", "setting"),
    [("ModelStartTimeoutMinutes", "modelStartTimeoutSeconds"), ("MaxRunMinutes", "maxRunSeconds")],
)
def test_the_run_reads_every_allowed_duration_in_seconds(
    sam_template: dict[str, Any], name: str, setting: str
) -> None:
    # Given the shortest and the longest duration the parameter allows
    allowed = sam_template["Parameters"][name]
    for minutes in (int(allowed["MinValue"]), int(allowed["MaxValue"])):
        # When a stack deployed with it loads its settings
        settings = run_input(deployed_definition({name: str(minutes)}))["settings"]

        # Then the run counts that many minutes in seconds
        assert settings[setting] == minutes * 60
    assert not accepts(sam_template, name, str(int(allowed["MaxValue"]) + 1))


def test_schedule_state_takes_the_states_of_eventbridge_scheduler(sam_template: dict[str, Any]) -> None:
    states = botocore.session.get_session().get_service_model("scheduler").shape_for("ScheduleState").enum

    assert [
        state for state in ["ENABLED", "DISABLED", "PAUSED"] if accepts(sam_template, "ScheduleState", state)
    ] == states


@pytest.mark.parametrize(("value", "ok"), [("", True), ("ops@example.com", True), ("ops", False)])
def test_alarm_email_is_empty_or_an_address(sam_template: dict[str, Any], value: str, ok: bool) -> None:
    assert accepts(sam_template, "AlarmEmail", value) is ok


def test_every_parameter_is_in_a_console_group(sam_template: dict[str, Any]) -> None:
    groups = sam_template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]

    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(sam_template["Parameters"])
