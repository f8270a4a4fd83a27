"""Where moto 5.2.5 behaves differently from AWS, make it behave like AWS.

The template and the state machine definition are written for AWS and never bent to suit the emulator;
each shim here closes one measured gap, numbered and measured in docs/LOCAL.md ("Shims"), and is covered
by tests/local.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import botocore.session
import jsonata
from botocore.exceptions import ClientError
from botocore.model import OperationModel, ServiceModel
from moto.awslambda.models import EventSourceMapping, LambdaBackend
from moto.dynamodb.models import DynamoDBBackend
from moto.s3 import notifications as s3_notifications
from moto.sqs.models import Message, Queue, SQSBackend
from moto.stepfunctions.parser.asl.component.component import Component
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.asl.jsonata import jsonata as engine_jsonata
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client as engine_boto_client

# Step Functions names SDK errors "<Service>.<Error>Exception" with the service in PascalCase as the
# AWS SDK for Java names its clients (AcmPca, DynamoDb, Sqs, Sfn); moto uses the raw API name instead.
_SERVICE_ERROR_PREFIXES = {
    "dynamodb": "DynamoDb",
    "lambda": "Lambda",
    "rekognition": "Rekognition",
    "s3": "S3",
    "sfn": "Sfn",
    "sns": "Sns",
    "sqs": "Sqs",
    "ssm": "Ssm",
}

_applied = False
_apply_lock = threading.Lock()


@dataclass
class MappingSwitch:
    """How an event source mapping switches on or off. On AWS a switch takes time that AWS does not bound
    (its stream-source documentation says up to 90 s; infrastructure tools wait up to 10 minutes), and a read
    soon after an update may still see the state before it. moto switches at once: the defaults keep that, and
    tests set both to play AWS's slow and stale answers."""

    stale_seconds: float = 0.0
    """After a switch, reads return the state before it for this long."""
    transition_seconds: float = 0.0
    """Then they return Enabling or Disabling for this long."""


MAPPING_SWITCH = MappingSwitch()
# The port of the endpoint the engine's SDK tasks call (the local stack's).
SDK_TASK_PORT = 5000


def apply_moto_shims() -> None:
    """Patch moto once per process; safe to call again."""
    global _applied
    with _apply_lock:
        if _applied:
            return
        _stop_moto_lambda_dispatch()
        _normalise_aws_sdk_integrations()
        _notify_object_versions()
        _switch_mappings_over_time()
        _call_the_local_stack_from_sdk_tasks()
        _change_queues_atomically()
        _write_each_item_atomically()
        _read_the_clock_cheaply_in_queues()
        _parse_each_definition_once()
        _keep_stopped_executions_aborted()
        _evaluate_jsonata()
        _applied = True


def _call_the_local_stack_from_sdk_tasks() -> None:
    """8. moto's engine sends SDK tasks to the port in $MOTO_PORT, a variable of the whole process."""
    engine_boto_client.moto_server_port = lambda: str(SDK_TASK_PORT)  # type: ignore[attr-defined]


def _change_queues_atomically() -> None:
    """9. moto's SQS picks, deletes and adds messages in unlocked steps, where SQS is atomic: each runs under
    one lock (reentrant: a receive dead-letters through an add), and a long poll waits outside it."""
    receive = SQSBackend.receive_message
    changing = threading.RLock()

    def receive_message(
        self: SQSBackend,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        deadline = time.monotonic() + wait_seconds_timeout
        while True:
            with changing:
                received = receive(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            if received or time.monotonic() >= deadline:
                return received
            self.get_queue(queue_name).wait_for_messages(1)

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    Queue.delete_message = _under(changing, Queue.delete_message)  # type: ignore[method-assign]
    Queue.add_message = _under(changing, Queue.add_message)  # type: ignore[method-assign]


def _write_each_item_atomically() -> None:
    """10. moto's DynamoDB checks a write's condition and then writes, unlocked; DynamoDB's conditional write
    is atomic. Reentrant: a transaction writes through the others."""
    writing = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(DynamoDBBackend, name, _under(writing, getattr(DynamoDBBackend, name)))


def _under(lock: threading.RLock, method: Any) -> Any:
    """`method`, run while holding `lock`."""

    @functools.wraps(method)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(self, *args, **kwargs)

    return locked


def _read_the_clock_cheaply_in_queues() -> None:
    """11. moto reads the clock through datetime arithmetic twice per message for every receive (50 ms at
    2,000 waiting); the same comparisons against time.time(), the clock it amounts to, cost 0.1 us."""
    Message.visible = property(lambda message: time.time() * 1000 > message.visible_at)  # type: ignore[method-assign,assignment]
    Message.delayed = property(lambda message: time.time() * 1000 < message.delayed_until)  # type: ignore[method-assign,assignment]


def _parse_each_definition_once() -> None:
    """12. moto's engine parses the definition anew for every execution (0.5 s of CPU). The parse is
    read-only while it runs but for one lazily drawn id per component: drawn here at the parse, so that
    concurrent executions never draw it at once. Errors are not cached."""
    parse = AmazonStateLanguageParser.parse

    @functools.lru_cache(maxsize=16)
    def parse_once(definition: str) -> Any:
        parsed = parse(definition)
        _draw_heap_keys(parsed[0], seen=set())
        return parsed

    AmazonStateLanguageParser.parse = staticmethod(parse_once)  # type: ignore[method-assign]


def _draw_heap_keys(value: Any, *, seen: set[int]) -> None:
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, list | tuple):
        children: Any = value
    elif isinstance(value, dict):
        children = value.values()
    elif isinstance(value, Component):
        if isinstance(value, EvalComponent):
            _ = value.heap_key
        children = vars(value).values()
    else:
        return
    for child in children:
        _draw_heap_keys(child, seen=seen)


def _keep_stopped_executions_aborted() -> None:
    """13. A StopExecution ends an execution ABORTED on AWS; in moto a state caught in mid-step can raise as
    it unwinds and turn the stop into States.Runtime. A stopped frame keeps its stop."""
    set_error = Environment.set_error

    def set_error_unless_stopped(self: Environment, error: Any) -> None:
        with self._state_mutex:  # an RLock: set_error takes it again
            if not isinstance(self._program_state, ProgramStopped):
                set_error(self, error)

    Environment.set_error = set_error_unless_stopped  # type: ignore[method-assign]


def _evaluate_jsonata() -> None:
    """14. moto's engine evaluates JSONata through a bridge to the JVM implementation that it leaves unset;
    jsonata-python is a port of that implementation (dashjoin's jsonata-java)."""
    engine_jsonata._eval_jsonata = lambda expression: jsonata.Jsonata(expression).evaluate(None)


def _stop_moto_lambda_dispatch() -> None:
    """5. While a mapping is Enabled, moto hands every SendMessage to its own Lambda runner, which loses or
    recycles the messages without Docker: queues never learn about mappings, the local consumer polls."""

    def no_mappings(_queue: Queue) -> dict[str, Any]:
        return {}

    def ignore_assignment(_queue: Queue, _value: dict[str, Any]) -> None:
        return None

    Queue.lambda_event_source_mappings = property(no_mappings, ignore_assignment)  # type: ignore[assignment]


@functools.cache
def _service_model(service_name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service_name)


def _operation_model(service_name: str, boto_action: str) -> OperationModel:
    service_model = _service_model(service_name)
    for operation_name in service_model.operation_names:
        if botocore.xform_name(operation_name) == boto_action:
            return service_model.operation_model(operation_name)
    raise ValueError(f"{service_name} has no operation {boto_action}")


def _normalise_aws_sdk_integrations() -> None:
    """1 and 2. moto's port leaves empty the hooks that map a task's PascalCase parameters onto the SDK's
    members and its responses back, and names SDK errors after the raw API: filled from botocore's model."""

    def normalise_parameters(
        self: StateTaskServiceAwsSdk,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        operation = _operation_model(
            self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
        )
        if operation.input_shape is not None:
            self._to_boto_request(parameters, operation.input_shape)

    def normalise_response(
        self: StateTaskServiceAwsSdk,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        operation = _operation_model(
            self._get_boto_service_name(boto_service_name), self._get_boto_service_action(service_action_name)
        )
        if operation.output_shape is not None:
            self._from_boto_response(response, operation.output_shape)
        if isinstance(response, dict):
            response.update({key: _json_timestamps(value) for key, value in response.items()})

    original_from_error = StateTaskServiceAwsSdk._from_error

    def from_error(self: StateTaskServiceAwsSdk, env: Any, ex: Exception) -> Any:
        failure_event = original_from_error(self, env, ex)
        if not isinstance(ex, ClientError):
            return failure_event
        details: Any = failure_event.event_details
        cause: str = details["taskFailedEventDetails"]["cause"]
        error_name = aws_sdk_error_name(self._get_boto_service_name(), ex.response["Error"]["Code"])
        return self._get_task_failure_event(env=env, error=error_name, cause=cause)

    StateTaskServiceAwsSdk._normalise_parameters = normalise_parameters  # type: ignore[method-assign,assignment]
    StateTaskServiceAwsSdk._normalise_response = normalise_response  # type: ignore[method-assign,assignment]
    StateTaskServiceAwsSdk._from_error = from_error  # type: ignore[method-assign]


def _json_timestamps(value: Any) -> Any:
    """State data is JSON on AWS, where SDK integrations give timestamps as ISO-8601 strings
    ("2024-01-01T00:00:00.000Z"); moto keeps botocore's datetime objects, on which States.JsonToString (the
    definition's failure causes quote the model description) fails with States.Runtime."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dict):
        return {key: _json_timestamps(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_timestamps(item) for item in value]
    return value


def aws_sdk_error_name(boto_service_name: str, error_code: str) -> str:
    """The name Step Functions gives an SDK integration error, e.g. ``Rekognition.ResourceInUseException``."""
    prefix = _SERVICE_ERROR_PREFIXES.get(boto_service_name, boto_service_name.capitalize())
    # Query-protocol codes can carry a namespace ("AWS.SimpleQueueService.NonExistentQueue").
    name = error_code.rsplit(".", 1)[-1]
    return f"{prefix}.{name if name.endswith('Exception') else name + 'Exception'}"


def _notify_object_versions() -> None:
    """6. AWS's records carry a versioned object's versionId and leave '/' unencoded in keys; moto does
    neither."""
    build_event = s3_notifications._get_s3_event

    def event_with_version(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
        event = build_event(event_name, bucket, key, notification_id)
        for record in event["Records"]:
            s3_object = record["s3"]["object"]
            s3_object["key"] = quote_plus(key.name, safe="/")
            if bucket.is_versioned:
                s3_object["versionId"] = key.version_id
        return event

    s3_notifications._get_s3_event = event_with_version


def _switch_mappings_over_time() -> None:
    """Gap: moto switches a mapping the moment UpdateEventSourceMapping returns (see MappingSwitch)."""
    update = LambdaBackend.update_event_source_mapping
    describe = EventSourceMapping.get_configuration

    def update_and_remember(self: LambdaBackend, uuid: str, spec: dict[str, Any]) -> Any:
        before = self.get_event_source_mapping(uuid)
        was_enabled = before.enabled if before is not None else None
        mapping = update(self, uuid, spec)
        if mapping is not None and was_enabled is not None and mapping.enabled != was_enabled:
            mapping.labelbatch_switched = (time.monotonic(), was_enabled)  # type: ignore[attr-defined]
        return mapping

    def describe_over_time(self: EventSourceMapping) -> dict[str, Any]:
        configuration: dict[str, Any] = describe(self)
        switched = getattr(self, "labelbatch_switched", None)
        if switched is None:
            return configuration
        since = time.monotonic() - switched[0]
        if since < MAPPING_SWITCH.stale_seconds:
            configuration["State"] = "Enabled" if switched[1] else "Disabled"
        elif since < MAPPING_SWITCH.stale_seconds + MAPPING_SWITCH.transition_seconds:
            configuration["State"] = "Enabling" if self.enabled else "Disabling"
        return configuration

    LambdaBackend.update_event_source_mapping = update_and_remember  # type: ignore[method-assign]
    EventSourceMapping.get_configuration = describe_over_time  # type: ignore[method-assign]
