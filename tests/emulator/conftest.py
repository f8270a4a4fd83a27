"""Fixtures: the emulator middleware in front of a real moto server, a fake clock, boto3 clients."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from labelbatch.emulator import CustomLabelsEmulator, EmulatorSettings, RekognitionMiddleware, moto_s3_fetcher

REGION = "us-east-1"
BUCKET = "emulator-test-images"
START_SECONDS = 60.0
STOP_SECONDS = 30.0


class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Stack:
    """What a test talks to: the endpoint, its emulator and the test's clock and recorded sleeps."""

    endpoint: str
    emulator: CustomLabelsEmulator
    clock: FakeClock
    sleeps: list[float] = field(default_factory=list)

    def client(self, service: str) -> Any:
        # One attempt only: boto3 would otherwise retry throttling and 500s and hide the exact counts.
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
        # Typed as Any: the service name is a variable, which boto3-stubs' overloads cannot resolve.
        make_client: Any = boto3.client
        return make_client(service, endpoint_url=self.endpoint, region_name=REGION, config=config)

    def control(self, method: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
        """Call the control API; returns (HTTP status, JSON body) for successes and errors alike."""
        request = urllib.request.Request(f"{self.endpoint}/_labelbatch/model", data=body, method=method)
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def start_and_wait(self, units: int = 1) -> None:
        """Start the model and move the clock until it is RUNNING."""
        self.client("rekognition").start_project_version(
            ProjectVersionArn=self.emulator.project_version_arn, MinInferenceUnits=units
        )
        self.clock.advance(self.emulator.settings.start_seconds)

    def model_status(self) -> str:
        response = self.client("rekognition").describe_project_versions(
            ProjectArn=self.emulator.project_arn, VersionNames=[self.emulator.version_name]
        )
        status: str = response["ProjectVersionDescriptions"][0]["Status"]
        return status


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def settings() -> EmulatorSettings:
    """Long start/stop so only the fake clock moves the lifecycle; no latency unless a test sets it."""
    return EmulatorSettings(
        start_seconds=START_SECONDS, stop_seconds=STOP_SECONDS, tps_per_inference_unit=2.0, latency_ms=0.0
    )


@pytest.fixture
def initial_status() -> str:
    return "STOPPED"


@pytest.fixture(scope="session")
def server() -> Iterator[tuple[str, RekognitionMiddleware]]:
    """One moto server for the whole run; each test puts its own emulator in the middleware."""
    placeholder = CustomLabelsEmulator(fetch_object=moto_s3_fetcher())
    app = RekognitionMiddleware(DomainDispatcherApplication(create_backend_app), placeholder)
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", app
    finally:
        httpd.shutdown()
        thread.join()


@pytest.fixture
def stack(
    server: tuple[str, RekognitionMiddleware],
    aws_credentials: None,
    settings: EmulatorSettings,
    initial_status: str,
) -> Iterator[Stack]:
    endpoint, middleware = server
    clock = FakeClock()
    sleeps: list[float] = []
    middleware.emulator = CustomLabelsEmulator(
        fetch_object=moto_s3_fetcher(),
        settings=settings,
        initial_status=initial_status,
        clock=clock,
        sleep=sleeps.append,
    )
    yield Stack(endpoint=endpoint, emulator=middleware.emulator, clock=clock, sleeps=sleeps)
    # moto's backends are process-wide: leave no buckets behind for the next test.
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()


@pytest.fixture
def rekognition(stack: Stack) -> Any:
    return stack.client("rekognition")


@pytest.fixture
def s3(stack: Stack) -> Any:
    return stack.client("s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    s3.create_bucket(Bucket=BUCKET)
    return BUCKET
