"""The stack's parameters: the names the issue promises, their defaults, and patterns that let a real model
ARN through and stop a mistyped one before any resource is created."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .support import EXAMPLE_PROJECT_ARN, EXAMPLE_PROJECT_VERSION_ARN

pytestmark = pytest.mark.template

EXPECTED_DEFAULTS: dict[str, object] = {
    "MinInferenceUnits": 1,
    "MaxInferenceUnits": "",
    "MinConfidence": "",
    "ScheduleExpression": "rate(1 hour)",
    "ScheduleState": "ENABLED",
    "InputPrefix": "images/",
    "ResultsPrefix": "results/",
    "PollIntervalSeconds": 60,
    "ModelStartTimeoutMinutes": 30,
    "MaxRunMinutes": 720,
    "ConsumerMaxConcurrency": 5,
    "AlarmEmail": "",
    # Not named by the issue: added so that a failed message is retried within seconds, not after the
    # queue's 360 s visibility timeout, while the model runs.
    "RetryDelaySeconds": 10,
}
REQUIRED = ("ProjectArn", "ProjectVersionArn")


def accepts(parameter: dict[str, Any], value: str) -> bool:
    """CloudFormation's AllowedPattern must match the whole value."""
    return re.fullmatch(parameter["AllowedPattern"], value) is not None


def test_parameters_are_the_ones_the_issue_names_and_the_retry_delay(sam_template: dict[str, Any]) -> None:
    assert set(sam_template["Parameters"]) == set(REQUIRED) | set(EXPECTED_DEFAULTS)


def test_only_the_two_model_arns_are_required(sam_template: dict[str, Any]) -> None:
    parameters = sam_template["Parameters"]

    assert [name for name, spec in parameters.items() if "Default" not in spec] == list(REQUIRED)
    assert {name: parameters[name]["Default"] for name in EXPECTED_DEFAULTS} == EXPECTED_DEFAULTS


@pytest.mark.parametrize(
    ("name", "minimum", "maximum"),
    [
        ("MinInferenceUnits", 1, None),
        # 1 s keeps local runs fast; the definition caps its polls to stay inside the history quota.
        ("PollIntervalSeconds", 1, 900),
        ("ModelStartTimeoutMinutes", 1, 120),
        # The definition turns minutes into seconds with a 1000-entry lookup.
        ("MaxRunMinutes", 1, 990),
        # ScalingConfig.MaximumConcurrency accepts 2 to 1000.
        ("ConsumerMaxConcurrency", 2, 1000),
        # The function caps its back-off at 300 s, below the queue's 360 s visibility timeout.
        ("RetryDelaySeconds", 1, 300),
    ],
)
def test_numbers_are_bounded(
    sam_template: dict[str, Any], name: str, minimum: int, maximum: int | None
) -> None:
    parameter = sam_template["Parameters"][name]

    assert parameter["Type"] == "Number"
    assert parameter["MinValue"] == minimum
    assert parameter.get("MaxValue") == maximum


def test_schedule_state_is_enabled_or_disabled(sam_template: dict[str, Any]) -> None:
    assert sam_template["Parameters"]["ScheduleState"]["AllowedValues"] == ["ENABLED", "DISABLED"]


@pytest.mark.parametrize(
    "value",
    [
        EXAMPLE_PROJECT_ARN,
        "arn:aws-cn:rekognition:cn-north-1:123456789012:project/my_project.v2/1690000000000",
        "arn:aws-us-gov:rekognition:us-gov-west-1:123456789012:project/a-b/1",
    ],
)
def test_project_arn_pattern_accepts_project_arns(sam_template: dict[str, Any], value: str) -> None:
    assert accepts(sam_template["Parameters"]["ProjectArn"], value)


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
    assert not accepts(sam_template["Parameters"]["ProjectArn"], value)


def test_version_arn_pattern_accepts_a_model_arn(sam_template: dict[str, Any]) -> None:
    assert accepts(sam_template["Parameters"]["ProjectVersionArn"], EXAMPLE_PROJECT_VERSION_ARN)


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
    assert not accepts(sam_template["Parameters"]["ProjectVersionArn"], value)


@pytest.mark.parametrize(
    ("value", "ok"), [("", True), ("1", True), ("12", True), ("0", False), ("two", False)]
)
def test_max_inference_units_is_empty_or_a_positive_integer(
    sam_template: dict[str, Any], value: str, ok: bool
) -> None:
    assert accepts(sam_template["Parameters"]["MaxInferenceUnits"], value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("", True), ("0", True), ("55", True), ("72.5", True), ("100", True), ("100.5", False), ("-1", False)],
)
def test_min_confidence_is_empty_or_0_to_100(sam_template: dict[str, Any], value: str, ok: bool) -> None:
    assert accepts(sam_template["Parameters"]["MinConfidence"], value) is ok


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
    assert accepts(sam_template["Parameters"][name], value) is ok


def test_a_rule_keeps_input_and_results_prefixes_apart(sam_template: dict[str, Any]) -> None:
    assertions = sam_template["Rules"]["SeparatePrefixes"]["Assertions"]

    assert [assertion["Assert"] for assertion in assertions] == [
        {"Fn::Not": [{"Fn::Equals": [{"Ref": "InputPrefix"}, {"Ref": "ResultsPrefix"}]}]}
    ]


@pytest.mark.parametrize(("value", "ok"), [("", True), ("ops@example.com", True), ("ops", False)])
def test_alarm_email_is_empty_or_an_address(sam_template: dict[str, Any], value: str, ok: bool) -> None:
    assert accepts(sam_template["Parameters"]["AlarmEmail"], value) is ok


def test_every_parameter_is_in_a_console_group(sam_template: dict[str, Any]) -> None:
    groups = sam_template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]

    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(sam_template["Parameters"])
