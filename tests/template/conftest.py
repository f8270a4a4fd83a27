"""template.yaml before and after the SAM transform, and evaluated for an example stack, all by the local
deployer's own loader, transform and evaluator (no copy of them here): what the tests check is what the local
stack deploys. The transform runs offline (aws-sam-translator), with no AWS call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from labelbatch.local.deploy import StackPlan
from support.template import REPO_ROOT, TEMPLATE_PATH, Resolver, example_evaluator, load_template, plan


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    """template.yaml as written (short-form intrinsics expanded), before the transform."""
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="session")
def example_plan() -> StackPlan:
    """The example stack planned with the two model ARNs and every other parameter's default."""
    return plan()


@pytest.fixture(scope="session")
def transformed_template(example_plan: StackPlan) -> dict[str, Any]:
    """The CloudFormation template the SAM transform makes of template.yaml."""
    return example_plan.template


@pytest.fixture(scope="session")
def resources(transformed_template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = transformed_template["Resources"]
    return found


@pytest.fixture(scope="session")
def resolve(example_plan: StackPlan) -> Resolver:
    """Evaluates an expression for the example stack as CloudFormation would; Ref and Fn::GetAtt of a resource
    give what AWS returns for the name the template sets, or for the name CloudFormation generates."""
    return example_evaluator(example_plan).resolve


@pytest.fixture(scope="session")
def state_machine_definition_path(sam_template: dict[str, Any]) -> Path:
    uri: str = sam_template["Resources"]["BatchRunStateMachine"]["Properties"]["DefinitionUri"]
    return REPO_ROOT / uri
