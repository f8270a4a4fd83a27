"""Parameters, pseudo parameters, conditions, rules and intrinsic functions, evaluated as CloudFormation does.

Written here: aws-sam-cli's resolver (a development-only dependency) looks an `Fn::Sub` variable's value up
again, keeps `${!Literal}` escaped, evaluates both `Fn::If` branches and ignores `Condition`s;
samtranslator's covers only Ref, Fn::Sub and Fn::GetAtt.
"""

from __future__ import annotations

import graphlib
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from enum import Enum
from typing import Any

from labelbatch.local.deploy.model import RuleFailedError, TemplateError

# One parameter value: CommaDelimitedList and List<...> parameters are lists, every other type is a string.
ParameterValue = str | list[str]

# Resolves `Ref` (attribute None) or `Fn::GetAtt` of a resource that has already been created.
ResourceLookup = Callable[[str, str | None], str]

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class _NoValue(Enum):
    MARKER = "AWS::NoValue"


# What `Ref: AWS::NoValue` evaluates to: the enclosing property or list item is removed.
NO_VALUE = _NoValue.MARKER


def scalar_text(value: Any, where: str) -> str:
    """A scalar as CloudFormation passes it to a service: YAML `true` is "true", 60 is "60"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{where}: expected a string, got {value!r}")


def resolve_parameters(
    declared: Mapping[str, Any], overrides: Mapping[str, str]
) -> dict[str, ParameterValue]:
    """Parameter values from defaults and overrides, validated as CloudFormation validates them."""
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"parameters {', '.join(unknown)} do not exist in the template")
    values: dict[str, ParameterValue] = {}
    for name, declaration in declared.items():
        if name in overrides:
            raw = overrides[name]
        elif "Default" in declaration:
            raw = scalar_text(declaration["Default"], f"parameter {name} default")
        else:
            raise TemplateError(f"parameter {name} has no default and no value was given")
        values[name] = _typed_parameter(name, declaration, raw)
    return values


def _typed_parameter(name: str, declaration: Mapping[str, Any], raw: str) -> ParameterValue:
    parameter_type = str(declaration.get("Type", "String"))
    if parameter_type.startswith("AWS::SSM::Parameter::"):
        raise TemplateError(f"parameter {name}: SSM parameter types are not supported locally")
    items = [item.strip() for item in raw.split(",")] if raw else []
    is_list = parameter_type == "CommaDelimitedList" or parameter_type.startswith("List<")
    for item in items if is_list else [raw]:
        _check_constraints(name, declaration, item, numeric=parameter_type in ("Number", "List<Number>"))
    return items if is_list else raw


def _check_constraints(name: str, declaration: Mapping[str, Any], value: str, *, numeric: bool) -> None:
    allowed = declaration.get("AllowedValues")
    if allowed is not None and value not in [scalar_text(item, name) for item in allowed]:
        raise TemplateError(f"parameter {name}: {value!r} is not one of {allowed}")
    pattern = declaration.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), value):
        raise TemplateError(f"parameter {name}: {value!r} does not match {pattern}")
    if "MinLength" in declaration and len(value) < int(declaration["MinLength"]):
        raise TemplateError(f"parameter {name}: {value!r} is shorter than {declaration['MinLength']}")
    if "MaxLength" in declaration and len(value) > int(declaration["MaxLength"]):
        raise TemplateError(f"parameter {name}: {value!r} is longer than {declaration['MaxLength']}")
    if numeric:
        try:
            number = float(value)
        except ValueError:
            raise TemplateError(f"parameter {name}: {value!r} is not a number") from None
        if "MinValue" in declaration and number < float(declaration["MinValue"]):
            raise TemplateError(f"parameter {name}: {value} is below {declaration['MinValue']}")
        if "MaxValue" in declaration and number > float(declaration["MaxValue"]):
            raise TemplateError(f"parameter {name}: {value} is above {declaration['MaxValue']}")


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def pseudo_parameters(*, region: str, account_id: str, stack_name: str) -> dict[str, ParameterValue]:
    partition = partition_of(region)
    return {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::StackName": stack_name,
        "AWS::StackId": f"arn:{partition}:cloudformation:{region}:{account_id}"
        f":stack/{stack_name}/{uuid.uuid4()}",
        "AWS::Partition": partition,
        "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
        "AWS::NotificationARNs": [],
    }


def _no_resources(logical_id: str, attribute: str | None) -> str:
    raise TemplateError(f"{logical_id} is not a parameter or a created resource")


class TemplateEvaluator:
    """Evaluates conditions, rules and intrinsic functions of one (already SAM-transformed) template."""

    def __init__(
        self,
        template: Mapping[str, Any],
        values: Mapping[str, ParameterValue],
        resource_lookup: ResourceLookup = _no_resources,
    ) -> None:
        self._template = template
        self._values = values
        self._lookup = resource_lookup
        self._conditions: dict[str, bool] = {}
        self._functions: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::FindInMap": self._find_in_map,
            "Fn::If": self._if,
            "Fn::Equals": self._equals,
            "Fn::Not": lambda args: not self._one_condition_argument("Fn::Not", args),
            "Fn::And": lambda args: all(self._condition_arguments("Fn::And", args)),
            "Fn::Or": lambda args: any(self._condition_arguments("Fn::Or", args)),
        }

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            declared = self._template.get("Conditions", {})
            if name not in declared:
                raise TemplateError(f"condition {name} is not declared")
            value = self.resolve(declared[name])
            if not isinstance(value, bool):
                raise TemplateError(f"condition {name} does not evaluate to true or false")
            self._conditions[name] = value
        return self._conditions[name]

    def is_included(self, entry: Mapping[str, Any]) -> bool:
        """Whether a resource or an output with an optional `Condition` exists in this deployment."""
        name = entry.get("Condition")
        return name is None or self.condition(str(name))

    def check_rules(self) -> None:
        for rule_name, rule in self._template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self._boolean(rule["RuleCondition"], f"rule {rule_name}"):
                continue
            for assertion in rule.get("Assertions", []):
                if not self._boolean(assertion["Assert"], f"rule {rule_name}"):
                    description = assertion.get("AssertDescription", "assertion failed")
                    raise RuleFailedError(f"rule {rule_name}: {description}")

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function evaluated; NO_VALUE when it is `Ref: AWS::NoValue`."""
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            if key in self._functions:
                return self._functions[key](argument)
            if key.startswith("Fn::"):
                raise TemplateError(f"intrinsic function {key} is not supported locally")
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _boolean(self, expression: Any, where: str) -> bool:
        value = self.resolve(expression)
        if not isinstance(value, bool):
            raise TemplateError(f"{where}: {expression!r} does not evaluate to true or false")
        return value

    def _ref(self, name: Any) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._values:
            return self._values[name]
        return self._lookup(_text(name, "Ref"), None)

    def _get_att(self, argument: Any) -> str:
        arguments = argument.split(".", 1) if isinstance(argument, str) else self.resolve(argument)
        if not isinstance(arguments, list) or len(arguments) != 2:
            raise TemplateError(f"Fn::GetAtt needs a resource and an attribute, got {argument!r}")
        return self._lookup(_text(arguments[0], "Fn::GetAtt"), _text(arguments[1], "Fn::GetAtt"))

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, str):
            template, variables = argument, {}
        else:
            template, raw_variables = _pair("Fn::Sub", argument)
            variables = self.resolve(raw_variables)
            if not isinstance(template, str) or not isinstance(variables, dict):
                raise TemplateError(f"Fn::Sub needs a string and a map of variables, got {argument!r}")

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return scalar_text(variables[name], f"Fn::Sub variable {name}")
            if name in self._values:
                return scalar_text(self._values[name], f"Fn::Sub ${{{name}}}")
            logical_id, _, attribute = name.partition(".")
            return self._lookup(logical_id, attribute or None)

        return _SUB_VARIABLE.sub(substitute, template)

    def _join(self, argument: Any) -> str:
        delimiter, items = _pair("Fn::Join", self.resolve(argument))
        if not isinstance(items, list):
            raise TemplateError(f"Fn::Join needs a list of values, got {items!r}")
        return _text(delimiter, "Fn::Join").join(scalar_text(item, "Fn::Join") for item in items)

    def _select(self, argument: Any) -> Any:
        index, items = _pair("Fn::Select", self.resolve(argument))
        try:
            position = int(index)
        except (TypeError, ValueError):
            raise TemplateError(f"Fn::Select: the index {index!r} is not a number") from None
        if not isinstance(items, list) or not 0 <= position < len(items):
            raise TemplateError(f"Fn::Select: index {position} is outside {items!r}")
        return items[position]

    def _split(self, argument: Any) -> list[str]:
        delimiter, source = _pair("Fn::Split", self.resolve(argument))
        return _text(source, "Fn::Split").split(_text(delimiter, "Fn::Split"))

    def _find_in_map(self, argument: Any) -> Any:
        keys = self.resolve(argument)
        if not isinstance(keys, list) or len(keys) != 3:
            raise TemplateError(f"Fn::FindInMap needs a map name and two keys, got {argument!r}")
        value: Any = self._template.get("Mappings", {})
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                raise TemplateError(f"Fn::FindInMap: {keys!r} is not in the template's Mappings")
            value = value[key]
        return value

    def _if(self, argument: Any) -> Any:
        if not isinstance(argument, list) or len(argument) != 3:
            raise TemplateError(f"Fn::If needs a condition and two values, got {argument!r}")
        # Only the chosen branch is evaluated: the other may refer to a resource its condition left out.
        return self.resolve(argument[1] if self.condition(_text(argument[0], "Fn::If")) else argument[2])

    def _equals(self, argument: Any) -> bool:
        left, right = _pair("Fn::Equals", self.resolve(argument))
        equal: bool = _comparable(left) == _comparable(right)
        return equal

    def _condition_arguments(self, function: str, arguments: Any) -> Iterator[bool]:
        if not isinstance(arguments, list):
            raise TemplateError(f"{function} needs a list of conditions, got {arguments!r}")
        for argument in arguments:
            if isinstance(argument, dict) and set(argument) == {"Condition"}:
                yield self.condition(_text(argument["Condition"], function))
            else:
                yield self._boolean(argument, function)

    def _one_condition_argument(self, function: str, arguments: Any) -> bool:
        if not isinstance(arguments, list) or len(arguments) != 1:
            raise TemplateError(f"{function} needs exactly one condition, got {arguments!r}")
        return next(self._condition_arguments(function, arguments))


def _pair(function: str, argument: Any) -> tuple[Any, Any]:
    if not isinstance(argument, list) or len(argument) != 2:
        raise TemplateError(f"{function} needs two arguments, got {argument!r}")
    return argument[0], argument[1]


def _text(value: Any, function: str) -> str:
    if not isinstance(value, str):
        raise TemplateError(f"{function}: expected a string, got {value!r}")
    return value


def _comparable(value: Any) -> Any:
    """CloudFormation compares values as strings: `!Equals [!Ref Retries, 3]` holds when Retries is "3"."""
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return scalar_text(value, "comparison")


def references(value: Any, resource_ids: frozenset[str]) -> set[str]:
    """The resources a fragment refers to through Ref, Fn::GetAtt or Fn::Sub (in both Fn::If branches)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item, resource_ids)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item.split(".", 1)[0] if isinstance(item, str) else item[0]
                if isinstance(target, str):
                    found.add(target)
            elif key == "Fn::Sub":
                template, variables = (item, {}) if isinstance(item, str) else (item[0], item[1])
                found |= references(variables, resource_ids)
                names = {name.partition(".")[0] for name in _SUB_VARIABLE.findall(str(template))}
                found |= {name for name in names if not name.startswith("!") and name not in variables}
            found |= references(item, resource_ids)
    return found & resource_ids


def creation_order(resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Logical ids in an order that creates every resource after the resources it refers to or depends on."""
    resource_ids = frozenset(resources)
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        explicit = {depends_on} if isinstance(depends_on, str) else set(depends_on)
        missing = explicit - resource_ids
        if missing:
            raise TemplateError(f"{logical_id} depends on {', '.join(sorted(missing))}, which is not created")
        sorter.add(logical_id, *sorted(explicit | references(resource.get("Properties", {}), resource_ids)))
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise TemplateError(f"circular dependency between resources: {' -> '.join(exc.args[1])}") from exc
