"""What a local deployment produces, and the errors that stop one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class DeployError(Exception):
    """The template cannot be deployed locally as written."""


class TemplateError(DeployError):
    """The template, its parameters or one of its intrinsic functions is invalid."""


class RuleFailedError(TemplateError):
    """A `Rules` assertion of the template does not hold for the given parameters."""


class UnsupportedResourceError(DeployError):
    """The template declares a resource type the local deployer cannot create."""

    def __init__(self, resource_type: str, logical_id: str) -> None:
        super().__init__(
            f"resource {logical_id} has type {resource_type}, which the local deployer does not support"
        )
        self.resource_type = resource_type
        self.logical_id = logical_id


class UnsupportedPropertyError(DeployError):
    """A resource sets properties the local deployer would otherwise silently drop."""

    def __init__(self, where: str, properties: list[str]) -> None:
        super().__init__(f"{where}: the local deployer does not support {', '.join(properties)}")
        self.where = where
        self.properties = properties


class ResourceCreationError(DeployError):
    """An emulated service refused to create a resource."""


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function as the local stack runs it: in-process, from its code directory."""

    name: str
    handler: str
    code_dir: Path
    environment: dict[str, str]
    timeout: int
    memory: int


@dataclass(frozen=True)
class EventSourceMappingSpec:
    """An SQS event source mapping as declared; its live state is the emulated Lambda service's."""

    uuid: str
    function_logical_id: str
    function_name: str
    queue_arn: str
    queue_url: str
    batch_size: int
    batching_window: int
    maximum_concurrency: int | None
    function_response_types: tuple[str, ...]


@dataclass(frozen=True)
class ScheduleSpec:
    """An EventBridge Scheduler schedule, for the local scheduler to fire."""

    logical_id: str
    name: str
    expression: str
    state: str
    target_arn: str
    target_input: str | None


@dataclass(frozen=True)
class DeployedStack:
    """A template deployed on the emulated services.

    `deviations` lists, by logical id, what the local deployment does differently from CloudFormation on AWS
    (a layer not attached, a permission recorded but not enforced), so nothing differs silently.
    """

    stack_name: str
    outputs: dict[str, str]
    physical_ids: dict[str, str]
    functions: dict[str, FunctionSpec]
    event_source_mappings: dict[str, EventSourceMappingSpec]
    schedules: list[ScheduleSpec]
    state_machines: dict[str, str]
    deviations: dict[str, tuple[str, ...]]
