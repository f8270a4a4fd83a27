"""WSGI middleware that serves the Custom Labels emulator in front of another app (moto's server).

A POST whose X-Amz-Target names one of OPERATIONS goes to the emulator, in the AWS JSON 1.1 protocol; its
errors carry a request id, without which moto's Step Functions engine fails. /_labelbatch/model is the control
API. Anything else goes to the wrapped app with its body unread, so further middleware can wrap this one.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from labelbatch.emulator.errors import RekognitionError, internal_server_error
from labelbatch.emulator.model import OPERATIONS, CustomLabelsEmulator
from labelbatch.emulator.settings import SettingsError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

MODEL_CONTROL_PATH = "/_labelbatch/model"


class RekognitionMiddleware:
    """Route Custom Labels calls and the model control API to `emulator`, the rest to `app`."""

    def __init__(self, app: WSGIApplication, emulator: CustomLabelsEmulator) -> None:
        self.app = app
        self.emulator = emulator

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        service, _, operation = request.headers.get("X-Amz-Target", "").partition(".")
        if request.method == "POST" and service == "RekognitionService" and operation in OPERATIONS:
            response = self._serve_operation(operation, request)
        elif request.path == MODEL_CONTROL_PATH:
            response = self._serve_control(request)
        else:
            return self.app(environ, start_response)
        return response(environ, start_response)

    def _serve_operation(self, operation: str, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            document = _json_object(request.get_data())
            if document is None:
                raise RekognitionError("SerializationException", "The request body is not a JSON object.")
            result = OPERATIONS[operation](self.emulator, document)
        except RekognitionError as error:
            return _aws_error(error, request_id)
        except Exception:
            # A defect in the emulator must still look like AWS to the SDK and the Step Functions engine.
            logger.exception("emulator failed on %s", operation)
            return _aws_error(internal_server_error(), request_id)
        return _json_response(200, result, {"x-amzn-RequestId": request_id})

    def _serve_control(self, request: Request) -> Response:
        if request.method == "GET":
            return _json_response(200, self.emulator.model_report())
        if request.method != "POST":
            return _json_response(405, {"error": f"{request.method} is not allowed; use GET or POST."})
        document = _json_object(request.get_data())
        if document is None:
            return _json_response(400, {"error": "The body must be a JSON object."})
        try:
            if "action" not in document:
                self.emulator.update_settings(document)
            elif len(document) > 1:
                return _json_response(400, {"error": "An action cannot be combined with setting changes."})
            elif document["action"] != "stop":
                return _json_response(
                    400, {"error": f"Unknown action {document['action']!r}; known actions: stop."}
                )
            else:
                self.emulator.stop_as_operator()
        except SettingsError as error:
            return _json_response(400, {"error": str(error)})
        except RekognitionError as error:
            return _json_response(409, {"error": error.message})
        return _json_response(200, self.emulator.model_report())


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _aws_error(error: RekognitionError, request_id: str) -> Response:
    document = {"__type": error.code, "Message": error.message}
    return _json_response(
        error.status, document, {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code}
    )


def _json_response(
    status: int, document: dict[str, Any], aws_headers: dict[str, str] | None = None
) -> Response:
    """The control API answers plain JSON; the Rekognition API, given its headers, AWS JSON 1.1."""
    content_type = "application/json" if aws_headers is None else "application/x-amz-json-1.1"
    return Response(json.dumps(document), status=status, content_type=content_type, headers=aws_headers)
