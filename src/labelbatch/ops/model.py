"""The stack's Custom Labels model: which one it is, its status, and what its running time costs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from labelbatch.ops.errors import OperationFailedError
from labelbatch.ops.target import Stack

PRICE_NOTE = "USD per inference-unit hour, the us-east-1 list price unless --unit-price says otherwise"
# Statuses in which the model bills: running, and on its way up or down.
BILLING_STATUSES = frozenset({"STARTING", "RUNNING", "STOPPING"})


@dataclass(frozen=True)
class ModelArns:
    project_arn: str
    project_version_arn: str

    @property
    def version_name(self) -> str:
        # arn:aws:rekognition:<region>:<account>:project/<name>/version/<version name>/<timestamp>
        return self.project_version_arn.split("/")[3]


class ModelDescription(TypedDict):
    projectVersionArn: str
    status: str
    statusMessage: str | None
    inferenceUnits: int | None
    """MinInferenceUnits of the last start: the units billed while it runs (more when auto-scaling)."""
    maxInferenceUnits: int | None


def model_arns(stack: Stack) -> ModelArns:
    """The model the stack runs, as the model reaper is configured with it.

    The stack outputs do not name the model; the reaper's environment carries both ARNs (the project ARN
    cannot be derived from the version ARN)."""
    function_name = stack.outputs["ModelReaperFunctionName"]
    configuration = stack.client("lambda").get_function_configuration(FunctionName=function_name)
    variables = configuration.get("Environment", {}).get("Variables", {})
    if not variables.get("PROJECT_ARN") or not variables.get("PROJECT_VERSION_ARN"):
        raise OperationFailedError(
            f"The model reaper {function_name} names no model (PROJECT_ARN, PROJECT_VERSION_ARN): redeploy "
            "the stack from this template."
        )
    return ModelArns(variables["PROJECT_ARN"], variables["PROJECT_VERSION_ARN"])


def describe_model(stack: Stack, arns: ModelArns) -> ModelDescription:
    response = stack.client("rekognition").describe_project_versions(
        ProjectArn=arns.project_arn, VersionNames=[arns.version_name]
    )
    descriptions = response.get("ProjectVersionDescriptions", [])
    if not descriptions:
        raise OperationFailedError(
            f"Rekognition has no model {arns.project_version_arn}: it was deleted, or the stack's "
            "ProjectVersionArn parameter names another account or region."
        )
    description = descriptions[0]
    return ModelDescription(
        projectVersionArn=arns.project_version_arn,
        status=str(description["Status"]),
        statusMessage=description.get("StatusMessage"),
        inferenceUnits=description.get("MinInferenceUnits"),
        maxInferenceUnits=description.get("MaxInferenceUnits"),
    )


def model_cost_usd(inference_units: int | None, seconds: float | None, unit_price: float) -> float | None:
    """Inference units x hours x price; None when either is unknown."""
    if inference_units is None or seconds is None:
        return None
    return round(inference_units * seconds / 3600 * unit_price, 4)
