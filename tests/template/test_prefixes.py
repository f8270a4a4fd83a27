"""Issue 10, item 4: a ResultsPrefix under InputPrefix, or the reverse, is rejected at deploy time.

Rules cannot compare prefixes (rule functions take only Ref and other rule functions, and Fn::Split's
delimiter must be a literal), so the template compares path segments in Conditions and, when the prefixes
nest, includes a resource SSM refuses to create. These tests evaluate those conditions with the local deployer
for given parameter values, as CloudFormation evaluates them when the stack is created or updated.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from labelbatch.local.deploy import TemplateError
from labelbatch.local.deploy.intrinsics import TemplateEvaluator, resolve_parameters
from support.template import EXAMPLE_PARAMETERS, Resolver

GUARD = "NestedPrefixesAreRejected"
# What SSM accepts as a parameter name (PutParameter's naming constraints): letters, digits, _.- and "/".
SSM_PARAMETER_NAME = re.compile(r"[a-zA-Z0-9_.\-/]+")
# Deep enough to find where the prefix pattern stops accepting levels.
PROBED_LEVELS = 10


def guard_included(template: dict[str, Any], input_prefix: str, results_prefix: str) -> bool:
    """Whether a deployment with these prefixes includes the guard, by the template's conditions."""
    values = resolve_parameters(
        template["Parameters"],
        {**EXAMPLE_PARAMETERS, "InputPrefix": input_prefix, "ResultsPrefix": results_prefix},
    )
    return TemplateEvaluator(template, values).is_included(template["Resources"][GUARD])


def levels(*segments: str) -> str:
    return "".join(f"{segment}/" for segment in segments)


@pytest.mark.parametrize(
    ("input_prefix", "results_prefix"),
    [
        ("images/", "images/results/"),
        ("a/b/", "a/"),
        ("images/", "images/"),
        ("a/b/c/d/", "a/b/c/d/e/"),
        ("a/b/c/d/e/", "a/b/c/d/e/"),
    ],
)
def test_nested_or_equal_prefixes_include_the_guard(
    transformed_template: dict[str, Any], input_prefix: str, results_prefix: str
) -> None:
    assert guard_included(transformed_template, input_prefix, results_prefix)


@pytest.mark.parametrize(
    ("input_prefix", "results_prefix"),
    [
        ("images/", "results/"),
        ("a/images/", "a/results/"),
        ("images/", "images2/"),
        ("images2/", "images/"),
        ("a/b/c/d/e/", "a/b/c/d/f/"),
    ],
)
def test_sibling_prefixes_leave_the_guard_out(
    transformed_template: dict[str, Any], input_prefix: str, results_prefix: str
) -> None:
    assert not guard_included(transformed_template, input_prefix, results_prefix)


def test_ssm_refuses_the_guard_with_its_name_as_the_reason(
    resources: dict[str, dict[str, Any]], resolve: Resolver
) -> None:
    # Given the guard's name, which CloudFormation reports when SSM refuses it
    name = resolve(resources[GUARD]["Properties"]["Name"])

    # Then SSM's parameter name constraints reject it, and it tells the operator what to fix
    assert SSM_PARAMETER_NAME.fullmatch(name) is None
    assert {"InputPrefix", "ResultsPrefix"} <= set(name.split())


def test_the_guard_compares_every_level_the_prefix_pattern_allows(
    transformed_template: dict[str, Any],
) -> None:
    # Given the depths of prefix each prefix parameter accepts
    def accepted(name: str, depth: int) -> bool:
        prefix = levels(*(f"l{level}" for level in range(depth)))
        try:
            resolve_parameters(transformed_template["Parameters"], {**EXAMPLE_PARAMETERS, name: prefix})
        except TemplateError:
            return False
        return True

    depths = [depth for depth in range(1, PROBED_LEVELS) if accepted("InputPrefix", depth)]

    # Then both accept one to five levels (the conditions compare five segments) ...
    assert depths == [1, 2, 3, 4, 5]
    assert [depth for depth in range(1, PROBED_LEVELS) if accepted("ResultsPrefix", depth)] == depths
    for depth in depths:
        parent = [f"l{level}" for level in range(depth - 1)]
        # ... and at every level two prefixes that differ only there are told apart, while one extending the
        # other by that level is caught in either order
        assert not guard_included(transformed_template, levels(*parent, "x"), levels(*parent, "y"))
        if parent:
            assert guard_included(transformed_template, levels(*parent), levels(*parent, "x"))
            assert guard_included(transformed_template, levels(*parent, "x"), levels(*parent))
