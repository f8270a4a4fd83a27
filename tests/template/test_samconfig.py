"""samconfig.toml against the template: the capability its IAM resources need, and placeholders for exactly
the required parameters that no deploy can mistake for real ARNs."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest

from labelbatch.local.deploy import TemplateError
from labelbatch.local.deploy.intrinsics import resolve_parameters
from support.template import EXAMPLE_PARAMETERS, REPO_ROOT, of_type

SAMCONFIG_PATH = REPO_ROOT / "samconfig.toml"


@pytest.fixture(scope="module")
def samconfig() -> dict[str, Any]:
    with SAMCONFIG_PATH.open("rb") as config_file:
        return tomllib.load(config_file)


@pytest.fixture(scope="module")
def overrides(samconfig: dict[str, Any]) -> dict[str, str]:
    listed = samconfig["default"]["deploy"]["parameters"]["parameter_overrides"]
    return dict(override.split("=", 1) for override in listed)


def test_deploy_acknowledges_what_the_template_does_with_iam(
    samconfig: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    # Given the template's roles: a named one needs CAPABILITY_NAMED_IAM, unnamed ones CAPABILITY_IAM
    roles = of_type(resources, "AWS::IAM::Role")
    assert roles
    named = any("RoleName" in role["Properties"] for role in roles.values())

    # Then the deploy settings acknowledge exactly that
    capabilities = samconfig["default"]["deploy"]["parameters"]["capabilities"]
    assert capabilities == ("CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM")


def test_example_overrides_name_the_required_parameters(
    overrides: dict[str, str], sam_template: dict[str, Any]
) -> None:
    required = [name for name, spec in sam_template["Parameters"].items() if "Default" not in spec]

    assert list(overrides) == required


def test_example_overrides_fail_the_template_patterns_until_replaced(
    overrides: dict[str, str], sam_template: dict[str, Any]
) -> None:
    # Given the placeholders as shipped
    # Then CloudFormation's parameter validation rejects each: a forgotten placeholder stops the deploy
    for name, value in overrides.items():
        with pytest.raises(TemplateError, match=f"parameter {name}: .* does not match"):
            resolve_parameters(sam_template["Parameters"], {**EXAMPLE_PARAMETERS, name: value})


def test_samconfig_holds_no_account_id() -> None:
    assert re.search(r"\d{12}", SAMCONFIG_PATH.read_text(encoding="utf-8")) is None
