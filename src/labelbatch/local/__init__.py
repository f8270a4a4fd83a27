"""The local stack: the real template, state machine and function code on emulated AWS services.

Nothing in this package is deployed to AWS; it runs on the operator's or the developer's machine.
"""

from functools import cache
from pathlib import Path

import boto3
import botocore.loaders
import botocore.session

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"
# Where a running local stack serves its stack outputs by name (GET), beside the AWS APIs.
OUTPUTS_PATH = "/_labelbatch/outputs"


@cache
def _service_models() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def local_session(region: str) -> boto3.Session:
    """A session for a local stack (any credentials do). Sessions share one reader of botocore's service
    models: each new session would read and parse them again, about 0.15 s of CPU for each service's first
    client, and tests, the local stack and `labelbatch --local` open many."""
    core = botocore.session.Session()
    core.register_component("data_loader", _service_models())
    return boto3.Session(
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106  (a local stack accepts any credentials)
        region_name=region,
        botocore_session=core,
    )
