"""What the deployer's tests share: the templates, example parameters and the moto account."""

from __future__ import annotations

from pathlib import Path

import pytest

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_TEMPLATE = Path(__file__).parent / "fixtures" / "sam_stack" / "template.yaml"
REAL_TEMPLATE = REPO_ROOT / "template.yaml"
REAL_DEFINITION = REPO_ROOT / "statemachine" / "batch_run.asl.json"
EXAMPLE_PARAMETERS = {
    "ProjectArn": "arn:aws:rekognition:us-east-1:123456789012:project/labelbatch-demo/1700000000000",
    "ProjectVersionArn": (
        "arn:aws:rekognition:us-east-1:123456789012:project/labelbatch-demo/version/"
        "labelbatch-demo.2024-01-01T00.00.00/1700000000001"
    ),
}

needs_real_template = pytest.mark.skipif(
    not (REAL_TEMPLATE.exists() and REAL_DEFINITION.exists()),
    reason="template.yaml or statemachine/batch_run.asl.json is not written yet",
)
