"""samconfig.toml: the settings the issue asks for, and placeholders no deploy can mistake for real ARNs."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from .support import REPO_ROOT

pytestmark = pytest.mark.template

SAMCONFIG_PATH = REPO_ROOT / "samconfig.toml"


@pytest.fixture(scope="module")
def samconfig() -> dict[str, Any]:
    with SAMCONFIG_PATH.open("rb") as config_file:
        return tomllib.load(config_file)


def test_samconfig_sets_stack_build_validate_and_deploy_options(samconfig: dict[str, Any]) -> None:
    default = samconfig["default"]

    assert samconfig["version"] == 0.1
    assert default["global"]["parameters"] == {"stack_name": "labelbatch"}
    assert default["build"]["parameters"] == {"cached": True, "parallel": True}
    assert default["validate"]["parameters"] == {"lint": True}
    deploy = default["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True


def test_example_overrides_name_the_two_required_parameters(samconfig: dict[str, Any]) -> None:
    overrides = samconfig["default"]["deploy"]["parameters"]["parameter_overrides"]

    assert [override.split("=", 1)[0] for override in overrides] == ["ProjectArn", "ProjectVersionArn"]


def test_example_overrides_fail_the_template_patterns_until_replaced(
    samconfig: dict[str, Any], sam_template: dict[str, Any]
) -> None:
    # Given the placeholders as shipped
    overrides = dict(
        override.split("=", 1)
        for override in samconfig["default"]["deploy"]["parameters"]["parameter_overrides"]
    )

    # Then CloudFormation's parameter validation rejects each: a forgotten placeholder stops the deploy
    for name, value in overrides.items():
        assert re.fullmatch(sam_template["Parameters"][name]["AllowedPattern"], value) is None, name


def test_samconfig_holds_no_account_id() -> None:
    assert re.search(r"\d{12}", SAMCONFIG_PATH.read_text(encoding="utf-8")) is None
