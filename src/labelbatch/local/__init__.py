"""The local stack: the real template, state machine and function code on emulated AWS services.

Nothing in this package is deployed to AWS; it runs on the operator's or the developer's machine.
"""

from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
# Where a running local stack serves its stack outputs by name (GET), beside the AWS APIs.
OUTPUTS_PATH = "/_labelbatch/outputs"
