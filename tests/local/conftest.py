"""Fixtures of the local-stack tests: a moto server and a session on it."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
import requests
from deploy_testing import REGION
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free port, with fake credentials so that no real account can be reached."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        # Port 0: the operating system picks a free port; the server reports it once started.
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # moto keeps its state per process, not per server: start from nothing and leave nothing behind.
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        try:
            yield endpoint
        finally:
            requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
            server.stop()


@pytest.fixture(scope="module")
def aws_session(moto_endpoint: str) -> boto3.Session:
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
