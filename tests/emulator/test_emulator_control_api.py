"""The control API on /_labelbatch/model, and what the middleware leaves to the app it wraps."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from labelbatch.emulator import CustomLabelsEmulator, RekognitionMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def test_get_reports_status_usage_and_settings(stack: Any) -> None:
    # When the model is read through the control API before anything happened
    status, report = stack.control("GET")

    # Then it shows the model, zero usage and the settings in force
    assert status == 200
    assert report == {
        "projectArn": stack.emulator.project_arn,
        "projectVersionArn": stack.emulator.project_version_arn,
        "status": "STOPPED",
        "statusMessage": "The model is stopped.",
        "minInferenceUnits": None,
        "maxInferenceUnits": None,
        "inferenceUnits": 0,
        "usage": {
            "runningSeconds": 0.0,
            "billedInferenceUnitSeconds": 0.0,
            "startCalls": 0,
            "stopCalls": 0,
            "detectCustomLabelsCalls": 0,
            "successfulCalls": 0,
            "throttledCalls": 0,
            "capacityThrottledCalls": 0,
            "errorCalls": 0,
            "errorsByCode": {},
            "firstCallAt": None,
            "lastAnswerAt": None,
        },
        "settings": {
            "start_seconds": 60.0,
            "stop_seconds": 30.0,
            "tps_per_inference_unit": 2.0,
            "latency_ms": 0.0,
            "fail_next_start": False,
            "stopped_before_next_stop": False,
            "refuse_stops": False,
            "throttle_fraction": 0.0,
            "transient_error_fraction": 0.0,
            "scale_seconds": 5.0,
            "failing_key": "",
        },
    }


def test_post_changes_settings_that_then_take_effect(stack: Any) -> None:
    # When start_seconds and a start failure are set through the control API
    status, report = stack.control("POST", json.dumps({"start_seconds": 5, "fail_next_start": True}).encode())

    # Then the report shows them, and the next start fails after 5 s
    assert status == 200
    assert (report["settings"]["start_seconds"], report["settings"]["fail_next_start"]) == (5.0, True)
    stack.client("rekognition").start_project_version(
        ProjectVersionArn=stack.emulator.project_version_arn, MinInferenceUnits=1
    )
    stack.clock.advance(5.0)
    assert stack.model_status() == "FAILED"


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        pytest.param(b'{"start_secs": 1}', "unknown setting(s) start_secs", id="unknown-key"),
        pytest.param(b'{"start_seconds": "fast"}', "start_seconds must be a number", id="string"),
        pytest.param(b'{"stop_seconds": true}', "stop_seconds must be a number", id="bool-for-number"),
        pytest.param(b'{"latency_ms": -1}', "latency_ms must be in [0, 60000]", id="negative"),
        pytest.param(b'{"throttle_fraction": 1.5}', "throttle_fraction must be in [0, 1]", id="fraction"),
        pytest.param(
            b'{"tps_per_inference_unit": 0}', "tps_per_inference_unit must be in (0, 10000]", id="zero-tps"
        ),
        pytest.param(b'{"fail_next_start": 1}', "fail_next_start must be true or false", id="int-for-bool"),
        pytest.param(b'{"start_seconds": 1, "latency_ms": "x"}', "latency_ms must be a number", id="one-bad"),
        pytest.param(b"[1, 2]", "must be a JSON object", id="not-an-object"),
        pytest.param(b"{nope", "must be a JSON object", id="not-json"),
        pytest.param(b'{"action": "start"}', "Unknown action 'start'", id="unknown-action"),
        pytest.param(b'{"action": "stop", "latency_ms": 5}', "cannot be combined", id="action-and-settings"),
    ],
)
def test_bad_posts_are_refused_and_change_nothing(stack: Any, body: bytes, message_part: str) -> None:
    # Given the settings before the request
    before = stack.emulator.settings

    # When a bad body is posted
    status, answer = stack.control("POST", body)

    # Then it is a 400 that says what is wrong, and no setting changed
    assert status == 400
    assert message_part in answer["error"]
    assert stack.emulator.settings == before


def test_stop_action_stops_a_running_model_like_an_operator(stack: Any) -> None:
    # Given a running model
    stack.start_and_wait()

    # When an operator stops it through the control API
    status, report = stack.control("POST", b'{"action": "stop"}')

    # Then it is STOPPING, then STOPPED, and the stop is counted
    assert (status, report["status"]) == (200, "STOPPING")
    stack.clock.advance(30.0)
    assert stack.model_status() == "STOPPED"
    assert stack.emulator.model_report()["usage"]["stopCalls"] == 1


def test_stop_action_on_a_stopped_model_is_a_conflict(stack: Any) -> None:
    # When a stopped model is stopped through the control API, Then 409 says why
    status, answer = stack.control("POST", b'{"action": "stop"}')
    assert status == 409
    assert "STOPPED" in answer["error"]


def test_other_methods_are_not_allowed(stack: Any) -> None:
    # When the control path is called with PUT, Then 405
    status, answer = stack.control("PUT", b"{}")
    assert status == 405
    assert "GET or POST" in answer["error"]


def recording_app(seen: list[tuple[str, bytes]]) -> Any:
    """A stand-in for moto's app that records the path and body it received."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        request = Request(environ)
        seen.append((request.path, request.get_data()))
        return Response("inner")(environ, start_response)

    return app


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/_labelbatch/outputs", {}),
        ("POST", "/", {"X-Amz-Target": "RekognitionService.DetectLabels"}),
        ("POST", "/", {"X-Amz-Target": "AWSStepFunctions.StartExecution"}),
        ("GET", "/", {"X-Amz-Target": "RekognitionService.DetectCustomLabels"}),
    ],
    ids=["outputs-path", "other-rekognition-operation", "other-service", "not-a-post"],
)
def test_everything_else_reaches_the_wrapped_app_with_its_body(
    method: str, path: str, headers: dict[str, str]
) -> None:
    # Given the middleware in front of an app that records what reaches it
    seen: list[tuple[str, bytes]] = []
    emulator = CustomLabelsEmulator(fetch_object=lambda bucket, key, version: None)
    client = Client(RekognitionMiddleware(recording_app(seen), emulator))

    # When a request the emulator does not serve arrives
    response = client.open(path, method=method, headers=headers, data=b'{"keep": "me"}')

    # Then the wrapped app answers it and receives the body unread
    assert response.get_data() == b"inner"
    assert seen == [(path, b'{"keep": "me"}')]


def test_a_request_body_that_is_not_json_is_a_serialization_error() -> None:
    # Given the middleware in front of an app
    emulator = CustomLabelsEmulator(fetch_object=lambda bucket, key, version: None)
    client = Client(RekognitionMiddleware(recording_app([]), emulator))

    # When a Custom Labels operation arrives with a body that is not JSON
    response = client.post(
        "/", headers={"X-Amz-Target": "RekognitionService.DescribeProjects"}, data=b"not json"
    )

    # Then it is AWS's SerializationException, with the headers SDKs and Step Functions rely on
    assert response.status_code == 400
    assert json.loads(response.get_data()) == {
        "__type": "SerializationException",
        "Message": "The request body is not a JSON object.",
    }
    assert response.headers["Content-Type"] == "application/x-amz-json-1.1"
    assert response.headers["x-amzn-ErrorType"] == "SerializationException"
    assert len(response.headers["x-amzn-RequestId"]) == 36
