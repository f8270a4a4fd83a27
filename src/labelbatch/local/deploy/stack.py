"""Deploying a SAM template onto emulated services, resource by resource in dependency order."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from labelbatch.local.deploy.intrinsics import (
    ParameterValue,
    TemplateEvaluator,
    creation_order,
    pseudo_parameters,
    resolve_parameters,
    scalar_text,
)
from labelbatch.local.deploy.model import (
    DeployedStack,
    ResourceCreationError,
    TemplateError,
    UnsupportedResourceError,
)
from labelbatch.local.deploy.resources import HANDLERS, Created, DeployContext
from labelbatch.local.deploy.template import apply_sam_transform, load_template, uses_sam_transform

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StackPlan:
    """A template ready to deploy: transformed, its parameters and rules checked, its resources ordered."""

    template: dict[str, Any]
    values: dict[str, ParameterValue]
    order: list[str]
    base_dir: Path


def plan_stack(
    template_path: Path, *, stack_name: str, parameters: Mapping[str, str], region: str, account_id: str
) -> StackPlan:
    """Everything about a deployment that needs no service: it fails before any resource is created."""
    source = load_template(template_path)
    values = resolve_parameters(source.get("Parameters", {}), parameters)
    values |= pseudo_parameters(region=region, account_id=account_id, stack_name=stack_name)
    TemplateEvaluator(source, values).check_rules()
    template = apply_sam_transform(source, values, region=region) if uses_sam_transform(source) else source
    resources: dict[str, Any] = template["Resources"]
    for logical_id, resource in resources.items():
        if resource.get("Type") not in HANDLERS:
            raise UnsupportedResourceError(str(resource.get("Type")), logical_id)
    evaluator = TemplateEvaluator(template, values)
    included = {
        logical_id: resource for logical_id, resource in resources.items() if evaluator.is_included(resource)
    }
    return StackPlan(
        template=template,
        values=values,
        order=creation_order(included),
        base_dir=template_path.parent.resolve(),
    )


def deploy_stack(
    template_path: Path,
    *,
    stack_name: str,
    parameters: Mapping[str, str],
    session: boto3.Session,
    endpoint_url: str,
    region: str,
    account_id: str,
) -> DeployedStack:
    """Create the template's resources through the service APIs at `endpoint_url` and describe the result."""
    plan = plan_stack(
        template_path, stack_name=stack_name, parameters=parameters, region=region, account_id=account_id
    )
    resources: dict[str, Any] = plan.template["Resources"]
    created: dict[str, Created] = {}

    def lookup(logical_id: str, attribute: str | None) -> str:
        if logical_id not in created:
            if logical_id in resources:
                raise TemplateError(f"{logical_id} is referred to but not created (its condition is false)")
            raise TemplateError(f"{logical_id} is neither a parameter nor a resource of the template")
        if attribute is None:
            return created[logical_id].ref
        if attribute not in created[logical_id].attributes:
            resource_type = resources[logical_id]["Type"]
            raise TemplateError(
                f"Fn::GetAtt {logical_id}.{attribute}: {resource_type} has no such attribute locally"
            )
        return created[logical_id].attributes[attribute]

    evaluator = TemplateEvaluator(plan.template, plan.values, lookup)
    context = DeployContext(
        session=session,
        endpoint_url=endpoint_url,
        region=region,
        account_id=account_id,
        stack_name=stack_name,
        base_dir=plan.base_dir,
    )
    for logical_id in plan.order:
        resource_type = resources[logical_id]["Type"]
        where = f"{resource_type} {logical_id}"
        properties = evaluator.resolve(resources[logical_id].get("Properties", {}))
        try:
            created[logical_id] = HANDLERS[resource_type](context, logical_id, properties, where)
        except (BotoCoreError, ClientError) as exc:
            raise ResourceCreationError(f"{where}: {exc}") from exc
        log.info(
            "created resource",
            extra={
                "logical_id": logical_id,
                "resource_type": resource_type,
                "physical_id": created[logical_id].ref,
            },
        )

    outputs = {
        name: scalar_text(evaluator.resolve(output["Value"]), f"output {name}")
        for name, output in plan.template.get("Outputs", {}).items()
        if evaluator.is_included(output)
    }
    return DeployedStack(
        stack_name=stack_name,
        outputs=outputs,
        physical_ids={logical_id: resource.ref for logical_id, resource in created.items()},
        functions=context.functions,
        event_source_mappings=context.event_source_mappings,
        schedules=context.schedules,
        state_machines=context.state_machines,
        deviations={logical_id: tuple(notes) for logical_id, notes in context.deviations.items()},
    )
