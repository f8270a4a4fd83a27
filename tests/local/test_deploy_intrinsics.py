"""Parameters, conditions, rules, intrinsic functions and ordering, evaluated without any service."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from labelbatch.local.deploy import RuleFailedError, TemplateError, UnsupportedPropertyError
from labelbatch.local.deploy.intrinsics import (
    TemplateEvaluator,
    creation_order,
    pseudo_parameters,
    resolve_parameters,
)
from labelbatch.local.deploy.resources import api_value

VERSION_ARN = "arn:aws:rekognition:us-east-1:1:project/demo/version/demo.2024-01-01T00.00.00/17"

TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
        "Retries": {"Type": "Number", "Default": 3, "MinValue": 1},
        "Colours": {"Type": "CommaDelimitedList", "Default": "red, green,blue"},
        "VersionArn": {"Type": "String", "Default": VERSION_ARN},
        "Email": {"Type": "String", "Default": ""},
    },
    "Mappings": {"Sizes": {"dev": {"Memory": 128}, "prod": {"Memory": 1024}}},
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "HasEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Email"}, ""]}]},
        "ThreeRetries": {"Fn::Equals": [{"Ref": "Retries"}, 3]},
        "DevWithoutEmail": {
            "Fn::And": [{"Fn::Not": [{"Condition": "IsProd"}]}, {"Fn::Not": [{"Condition": "HasEmail"}]}]
        },
        "ProdOrEmail": {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "HasEmail"}]},
    },
    "Rules": {},
    "Resources": {},
}


def evaluator(
    overrides: dict[str, str] | None = None, template: dict[str, Any] = TEMPLATE
) -> TemplateEvaluator:
    values = resolve_parameters(template["Parameters"], overrides or {})
    values |= pseudo_parameters(region="eu-west-1", account_id="111122223333", stack_name="demo")

    def lookup(logical_id: str, attribute: str | None) -> str:
        known = {("Queue", None): "https://queue-url", ("Queue", "Arn"): "arn:aws:sqs:eu-west-1:1:q"}
        if (logical_id, attribute) not in known:
            raise TemplateError(f"unknown {logical_id}.{attribute}")
        return known[(logical_id, attribute)]

    return TemplateEvaluator(template, values, lookup)


def test_ref_gives_parameters_pseudo_parameters_and_resources() -> None:
    # Given the example template with default parameters
    # When parameters, pseudo parameters and a resource are referred to
    resolved = evaluator().resolve(
        {
            "stage": {"Ref": "Stage"},
            "retries": {"Ref": "Retries"},
            "colours": {"Ref": "Colours"},
            "region": {"Ref": "AWS::Region"},
            "partition": {"Ref": "AWS::Partition"},
            "queue": {"Ref": "Queue"},
            "queue_arn": {"Fn::GetAtt": ["Queue", "Arn"]},
            "queue_arn_short": {"Fn::GetAtt": "Queue.Arn"},
        }
    )
    # Then each is the value CloudFormation would give: numbers as text, lists split and trimmed
    assert resolved == {
        "stage": "dev",
        "retries": "3",
        "colours": ["red", "green", "blue"],
        "region": "eu-west-1",
        "partition": "aws",
        "queue": "https://queue-url",
        "queue_arn": "arn:aws:sqs:eu-west-1:1:q",
        "queue_arn_short": "arn:aws:sqs:eu-west-1:1:q",
    }


def test_stack_id_has_the_shape_templates_split() -> None:
    # Given the pseudo parameters of stack "demo"
    stack_id = pseudo_parameters(region="eu-west-1", account_id="111122223333", stack_name="demo")[
        "AWS::StackId"
    ]
    # When the stack id is split as templates do to derive a unique suffix
    prefix, name, unique = str(stack_id).split("/")
    # Then it is arn:...:stack/<name>/<uuid>
    assert prefix == "arn:aws:cloudformation:eu-west-1:111122223333:stack"
    assert name == "demo"
    assert len(unique.split("-")) == 5


def test_sub_substitutes_names_attributes_and_keeps_escaped_literals() -> None:
    # Given a Sub with a parameter, a pseudo parameter, a resource attribute and an escaped ${!...}
    expression = {"Fn::Sub": "${Stage}/${AWS::AccountId}/${Queue.Arn}/${Queue}/${!Literal}"}
    # When it is resolved
    resolved = evaluator().resolve(expression)
    # Then every variable is replaced and the escape becomes a literal ${...}
    assert resolved == "dev/111122223333/arn:aws:sqs:eu-west-1:1:q/https://queue-url/${Literal}"


def test_sub_variables_are_used_as_they_are_even_with_dots() -> None:
    # Given a Sub whose variable value contains dots (samcli's resolver mangles this into "$arn:...")
    expression = {
        "Fn::Sub": [
            "name=${Name} arn=${Arn}",
            {"Name": "demo.2024-01-01T00.00.00", "Arn": {"Ref": "VersionArn"}},
        ]
    }
    # When it is resolved
    resolved = evaluator().resolve(expression)
    # Then the values are substituted verbatim
    assert resolved == f"name=demo.2024-01-01T00.00.00 arn={VERSION_ARN}"


def test_join_select_split_and_find_in_map_compose() -> None:
    # Given nested list functions over parameters and a mapping
    expression = {
        "version_name": {"Fn::Select": [3, {"Fn::Split": ["/", {"Ref": "VersionArn"}]}]},
        "joined": {"Fn::Join": ["+", {"Ref": "Colours"}]},
        "second": {"Fn::Select": ["1", {"Ref": "Colours"}]},
        "memory": {"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "Memory"]},
    }
    # When they are resolved
    resolved = evaluator().resolve(expression)
    # Then each gives CloudFormation's result
    assert resolved == {
        "version_name": "demo.2024-01-01T00.00.00",
        "joined": "red+green+blue",
        "second": "green",
        "memory": 128,
    }


def test_no_value_removes_the_property_and_the_list_item() -> None:
    # Given a property and a list item that are AWS::NoValue when the stack is not prod
    expression = {
        "Kept": "yes",
        "Dropped": {"Fn::If": ["IsProd", "prod-only", {"Ref": "AWS::NoValue"}]},
        "List": ["a", {"Fn::If": ["IsProd", "b", {"Ref": "AWS::NoValue"}]}, "c"],
    }
    # When it is resolved for the dev stage
    resolved = evaluator().resolve(expression)
    # Then the property and the item are gone, as CloudFormation removes them
    assert resolved == {"Kept": "yes", "List": ["a", "c"]}


def test_if_evaluates_only_the_chosen_branch() -> None:
    # Given an If whose other branch refers to a resource that does not exist
    expression = {"Fn::If": ["IsProd", {"Ref": "ProdOnlyQueue"}, "no queue"]}
    # When it is resolved for the dev stage
    resolved = evaluator().resolve(expression)
    # Then the missing resource is never looked up
    assert resolved == "no queue"
    # And for the prod stage, the chosen branch is evaluated (and fails on the missing resource)
    with pytest.raises(TemplateError, match="unknown ProdOnlyQueue"):
        evaluator({"Stage": "prod"}).resolve(expression)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {},
            {
                "IsProd": False,
                "HasEmail": False,
                "ThreeRetries": True,
                "DevWithoutEmail": True,
                "ProdOrEmail": False,
            },
        ),
        (
            {"Stage": "prod", "Retries": "4"},
            {
                "IsProd": True,
                "HasEmail": False,
                "ThreeRetries": False,
                "DevWithoutEmail": False,
                "ProdOrEmail": True,
            },
        ),
        (
            {"Email": "ops@example.com"},
            {
                "IsProd": False,
                "HasEmail": True,
                "ThreeRetries": True,
                "DevWithoutEmail": False,
                "ProdOrEmail": True,
            },
        ),
    ],
)
def test_conditions_combine_equals_not_and_or(overrides: dict[str, str], expected: dict[str, bool]) -> None:
    # Given the example conditions and some parameter overrides
    subject = evaluator(overrides)
    # When every condition is evaluated
    evaluated = {name: subject.condition(name) for name in expected}
    # Then each has CloudFormation's value (Equals compares "3" and 3 as equal text)
    assert evaluated == expected


def test_resource_and_output_conditions_decide_inclusion() -> None:
    # Given a resource conditioned on IsProd and one without a condition
    subject = evaluator()
    # When inclusion is decided for the dev stage
    # Then the conditioned one is left out and the other kept
    assert subject.is_included({"Type": "AWS::SQS::Queue", "Condition": "IsProd"}) is False
    assert subject.is_included({"Type": "AWS::SQS::Queue"}) is True


def test_an_unsupported_intrinsic_function_is_named() -> None:
    # Given a value using Fn::ImportValue, which needs other stacks
    # When it is resolved
    # Then the error names the function instead of passing the object through
    with pytest.raises(TemplateError, match="Fn::ImportValue is not supported"):
        evaluator().resolve({"Fn::ImportValue": "shared-vpc"})


def test_an_undeclared_condition_is_an_error() -> None:
    with pytest.raises(TemplateError, match="condition Missing is not declared"):
        evaluator().resolve({"Fn::If": ["Missing", "a", "b"]})


def test_parameters_take_defaults_and_overrides() -> None:
    # Given declared parameters with defaults
    # When one is overridden
    values = resolve_parameters(TEMPLATE["Parameters"], {"Stage": "prod", "Colours": ""})
    # Then overrides win, defaults fill the rest, and an empty list parameter is an empty list
    assert values == {"Stage": "prod", "Retries": "3", "Colours": [], "VersionArn": VERSION_ARN, "Email": ""}


@pytest.mark.parametrize(
    ("declared", "overrides", "message"),
    [
        ({"A": {"Type": "String"}}, {}, "parameter A has no default and no value was given"),
        ({"A": {"Type": "String", "Default": "x"}}, {"B": "y"}, "parameters B do not exist in the template"),
        ({"A": {"Type": "String", "AllowedValues": ["x"]}}, {"A": "y"}, r"'y' is not one of \['x'\]"),
        ({"A": {"Type": "String", "AllowedPattern": "^[a-z]+/$"}}, {"A": "abc"}, "'abc' does not match"),
        ({"A": {"Type": "Number", "MinValue": 5}}, {"A": "4"}, "4 is below 5"),
        ({"A": {"Type": "Number", "MaxValue": 990}}, {"A": "991"}, "991 is above 990"),
        ({"A": {"Type": "Number"}}, {"A": "ten"}, "'ten' is not a number"),
        ({"A": {"Type": "String", "MaxLength": 3}}, {"A": "abcd"}, "'abcd' is longer than 3"),
    ],
)
def test_parameter_values_are_validated_as_cloudformation_does(
    declared: dict[str, Any], overrides: dict[str, str], message: str
) -> None:
    # Given a parameter declaration and a value that breaks it
    # When the parameters are resolved
    # Then the error says which constraint failed
    with pytest.raises(TemplateError, match=message):
        resolve_parameters(declared, overrides)


def test_a_failing_rule_assertion_stops_the_deployment_with_its_description() -> None:
    # Given a rule that input and output prefixes differ, applied only in prod
    template = TEMPLATE | {
        "Rules": {
            "SeparatePrefixes": {
                "RuleCondition": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
                "Assertions": [
                    {
                        "Assert": {"Fn::Equals": [{"Ref": "Email"}, "red"]},
                        "AssertDescription": "never",
                    },
                ],
            },
            "RedFirst": {
                "Assertions": [{"Assert": {"Fn::Equals": [{"Fn::Select": [0, {"Ref": "Colours"}]}, "red"]}}]
            },
        }
    }
    # When the rules are checked for dev, where the first rule does not apply
    # Then they pass
    evaluator(template=template).check_rules()
    # And in prod the first rule's failing assertion is reported with its description
    with pytest.raises(RuleFailedError, match="rule SeparatePrefixes: never"):
        evaluator({"Stage": "prod"}, template=template).check_rules()
    # And a first colour other than red fails the second rule, which has no description
    with pytest.raises(RuleFailedError, match="rule RedFirst: assertion failed"):
        evaluator({"Colours": "black,red"}, template=template).check_rules()


def test_creation_order_follows_ref_getatt_sub_and_depends_on() -> None:
    # Given resources that refer to each other in every way a template can
    resources: dict[str, Any] = {
        "Bucket": {"DependsOn": "QueuePolicy", "Properties": {"Queue": {"Fn::GetAtt": "Queue.Arn"}}},
        "QueuePolicy": {"Properties": {"Queues": [{"Ref": "Queue"}]}},
        "Function": {"Properties": {"Env": {"Fn::Sub": "${Bucket}/${Role.Arn}/${AWS::Region}/${!Bucket}"}}},
        "Role": {"Properties": {"Name": {"Fn::Sub": ["${X}", {"X": {"Ref": "Stage"}}]}}},
        "Queue": {"Properties": {"Dlq": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}},
        "DeadLetterQueue": {},
        "Mapping": {"Properties": {"F": {"Fn::If": ["C", {"Ref": "Function"}, {"Ref": "AWS::NoValue"}]}}},
    }
    # When they are ordered
    order = creation_order(resources)
    # Then each comes after everything it needs
    position = {logical_id: index for index, logical_id in enumerate(order)}
    for later, earlier in [
        ("Bucket", "QueuePolicy"),
        ("Bucket", "Queue"),
        ("QueuePolicy", "Queue"),
        ("Queue", "DeadLetterQueue"),
        ("Function", "Bucket"),
        ("Function", "Role"),
        ("Mapping", "Function"),
    ]:
        assert position[earlier] < position[later], f"{earlier} must come before {later} in {order}"
    assert sorted(order) == sorted(resources)


def test_a_circular_reference_is_named() -> None:
    # Given two queues that refer to each other
    resources: dict[str, Any] = {
        "A": {"Properties": {"Target": {"Fn::GetAtt": ["B", "Arn"]}}},
        "B": {"Properties": {"Target": {"Ref": "A"}}},
    }
    # When they are ordered
    # Then the cycle is reported with both names
    with pytest.raises(
        TemplateError, match=r"circular dependency between resources: (A -> B -> A|B -> A -> B)"
    ):
        creation_order(resources)


def test_depends_on_a_missing_resource_is_an_error() -> None:
    with pytest.raises(TemplateError, match="A depends on Ghost, which is not created"):
        creation_order({"A": {"DependsOn": ["Ghost"]}})


def _input_shape(service: str, operation: str) -> Any:
    return botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape


def test_a_property_the_api_does_not_take_is_named_not_dropped() -> None:
    # Given a mapping's properties with one that CreateEventSourceMapping does not take, nested
    properties = {"BatchSize": 5, "ScalingConfig": {"MaximumConcurrency": 2, "Colour": "blue"}}
    # When they are converted for the API
    # Then the property is named with where it is
    with pytest.raises(
        UnsupportedPropertyError, match=r"M\.ScalingConfig: the local deployer does not support Colour"
    ):
        api_value(properties, _input_shape("lambda", "CreateEventSourceMapping"), "M")


def test_properties_become_the_types_the_api_takes() -> None:
    # Given CloudFormation's JSON: numbers as text, a policy object, a queue attribute as a number
    shape = _input_shape("sqs", "CreateQueue")
    properties = {"QueueName": "q", "Attributes": {"VisibilityTimeout": 45, "RedrivePolicy": {"a": 1}}}
    # When converted
    # Then the attributes are text, the policy its JSON, as SQS takes them
    assert api_value(properties, shape, "Q") == {
        "QueueName": "q",
        "Attributes": {"VisibilityTimeout": "45", "RedrivePolicy": '{"a": 1}'},
    }
    assert api_value({"BatchSize": "5"}, _input_shape("lambda", "CreateEventSourceMapping"), "M") == {
        "BatchSize": 5
    }
    # And a list where the API takes text is refused, not turned into JSON
    with pytest.raises(TemplateError, match=r"Q\.QueueName: expected a string, got \['a'\]"):
        api_value({"QueueName": ["a"]}, shape, "Q")
    # And a queue attribute SQS does not know is named
    with pytest.raises(
        UnsupportedPropertyError, match=r"Q\.Attributes: the local deployer does not support Colour"
    ):
        api_value({"Attributes": {"Colour": "blue"}}, shape, "Q")


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), ("false", False), ("True", True), (False, False)]
)
def test_booleans_are_read_as_cloudformation_passes_them(value: object, expected: bool) -> None:
    shape = _input_shape("lambda", "CreateEventSourceMapping")
    assert api_value({"Enabled": value}, shape, "here") == {"Enabled": expected}


def test_a_boolean_that_is_not_true_or_false_is_refused() -> None:
    with pytest.raises(TemplateError, match=r"here\.Enabled: 'yes' is not true or false"):
        api_value({"Enabled": "yes"}, _input_shape("lambda", "CreateEventSourceMapping"), "here")
