"""Deploy the real SAM template onto moto in server mode, resource by resource through the service APIs.

moto's CloudFormation cannot apply the SAM transform and ignores DefinitionSubstitutions and bucket
notifications, so the transform runs offline (aws-sam-translator), intrinsics are evaluated here, and each
resource is created with the call CloudFormation's handler would make. A resource type or property the
deployer does not know is an error naming it; what the local deployment does differently from AWS is listed
in `DeployedStack.deviations`.
"""

from labelbatch.local.deploy.model import (
    DeployedStack,
    DeployError,
    EventSourceMappingSpec,
    FunctionSpec,
    ResourceCreationError,
    RuleFailedError,
    ScheduleSpec,
    TemplateError,
    UnsupportedPropertyError,
    UnsupportedResourceError,
)
from labelbatch.local.deploy.resources import HANDLERS
from labelbatch.local.deploy.stack import StackPlan, deploy_stack, plan_stack

SUPPORTED_RESOURCE_TYPES = frozenset(HANDLERS)

__all__ = [
    "SUPPORTED_RESOURCE_TYPES",
    "DeployError",
    "DeployedStack",
    "EventSourceMappingSpec",
    "FunctionSpec",
    "ResourceCreationError",
    "RuleFailedError",
    "ScheduleSpec",
    "StackPlan",
    "TemplateError",
    "UnsupportedPropertyError",
    "UnsupportedResourceError",
    "deploy_stack",
    "plan_stack",
]
