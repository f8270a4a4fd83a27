"""The local stack: the real template, definition and handlers on one endpoint, no AWS account.

moto (server mode, its Step Functions engine executing definitions for real) serves the AWS APIs; the Custom
Labels emulator answers Rekognition on the same endpoint; the template is deployed through the service APIs;
a consumer plays the SQS event source mapping and a scheduler plays EventBridge Scheduler. See docs/LOCAL.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
import urllib.request
import uuid
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.core.config import default_user_config
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from labelbatch.emulator import CustomLabelsEmulator, EmulatorSettings, RekognitionMiddleware, moto_s3_fetcher
from labelbatch.emulator.model import demo_model_arns
from labelbatch.local import OUTPUTS_PATH, TEMPLATE
from labelbatch.local.consumer import QueueConsumer
from labelbatch.local.deploy import deploy_stack
from labelbatch.local.deploy.model import DeployedStack, ScheduleSpec
from labelbatch.local.deploy.template import load_template
from labelbatch.local.lambda_runtime import LambdaContext, load_handler, unload_function_modules
from labelbatch.local.moto_shims import apply_moto_shims
from labelbatch.local.scheduler import LocalScheduler

STATE_MACHINE_LOGICAL_ID = "BatchRunStateMachine"


@dataclass(frozen=True)
class LocalStackConfig:
    host: str = "127.0.0.1"
    port: int = 4566  # 0 picks a free port
    region: str = "us-east-1"
    stack_name: str = "labelbatch-local"
    poll_seconds: int = 2
    schedule_every: float | None = None
    schedule: bool = True
    parameters: Mapping[str, str] = field(default_factory=dict)
    emulator: EmulatorSettings = field(
        default_factory=lambda: EmulatorSettings(start_seconds=3, stop_seconds=1)
    )
    # Handler logs and EMF metric lines go to stdout as in Lambda; the demo quiets them.
    function_log_level: str = "INFO"
    function_metrics: bool = True


def local_parameters(config: LocalStackConfig) -> dict[str, str]:
    """Template parameters for the local stack: the emulator's demo model and short intervals."""
    project_arn, version_arn = demo_model_arns(config.region, DEFAULT_ACCOUNT_ID)
    return {
        "ProjectArn": project_arn,
        "ProjectVersionArn": version_arn,
        "PollIntervalSeconds": str(config.poll_seconds),
        "ModelStartTimeoutMinutes": "5",
        "MaxRunMinutes": "30",
        **config.parameters,
    }


class _OutputsApi:
    """Serves the stack outputs at /_labelbatch/outputs in front of everything else."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.outputs: dict[str, str] = {}

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        if request.path != OUTPUTS_PATH:
            return self.app(environ, start_response)
        response = Response(json.dumps(self.outputs), content_type="application/json")
        if request.method != "GET":
            response = Response(
                json.dumps({"message": "use GET"}), status=405, content_type="application/json"
            )
        return response(environ, start_response)


class LocalStack:
    """Start with `start()` (or use as a context manager); everything stops with `stop()`."""

    def __init__(self, config: LocalStackConfig | None = None, template: Path = TEMPLATE) -> None:
        self.config = config or LocalStackConfig()
        self._template = template
        self._server: BaseWSGIServer | None = None
        self._server_thread: threading.Thread | None = None
        self._consumers: list[QueueConsumer] = []
        self._scheduler: LocalScheduler | None = None
        self._saved_environment: dict[str, str | None] = {}
        self.emulator: CustomLabelsEmulator | None = None
        self.deployed: DeployedStack | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        # One line per HTTP request would drown everything else the stack and the handlers say.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        apply_moto_shims()
        default_user_config["stepfunctions"]["execute_state_machine"] = True
        parameters = local_parameters(self.config)
        self.emulator = CustomLabelsEmulator(
            fetch_object=moto_s3_fetcher(),
            project_arn=parameters["ProjectArn"],
            project_version_arn=parameters["ProjectVersionArn"],
            settings=self.config.emulator,
        )
        outputs_api = _OutputsApi(
            RekognitionMiddleware(DomainDispatcherApplication(create_backend_app), self.emulator)
        )
        self._server = make_server(
            self.config.host, self.config.port, outputs_api, threaded=True, request_handler=MotoRequestHandler
        )
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, name="endpoint", daemon=True
        )
        self._server_thread.start()
        # The engine's SDK tasks call http://localhost:$MOTO_PORT.
        self._set_environment({"MOTO_PORT": str(self._server.server_address[1])})
        self._reset_moto()
        try:
            self.deployed = deploy_stack(
                self._template,
                stack_name=self.config.stack_name,
                parameters=parameters,
                session=self.session(),
                endpoint_url=self.endpoint_url,
                region=self.config.region,
                account_id=DEFAULT_ACCOUNT_ID,
            )
            outputs_api.outputs = dict(self.deployed.outputs)
            self._record_outputs_stack()
            self._set_environment(self._function_environment())
            # Cold start, as a new deployment gets new execution environments. Unloading at stop() is not
            # enough: anything else in this process (a test module, a conftest) may have imported the function
            # code first, with another environment, and Powertools built its objects then (a Metrics object
            # without a namespace made every invocation fail with SchemaValidationError).
            self._unload_function_modules()
            self._start_consumers()
            if not self.config.schedule:
                self._disable_schedules()
            else:
                self._scheduler = LocalScheduler(
                    self.deployed.schedules, self.fire, self.config.schedule_every
                )
                self._scheduler.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()
            self._scheduler = None
        for consumer in self._consumers:
            consumer.stop()
        self._consumers = []
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._server_thread is not None:
            self._server_thread.join()
            self._server_thread = None
        self._unload_function_modules()
        self._restore_environment()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- what callers use -----------------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None, "the local stack is not started"
        # Clients reach a server listening on every address through the loopback one.
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host  # noqa: S104
        return f"http://{host}:{self._server.server_address[1]}"

    @property
    def outputs(self) -> dict[str, str]:
        assert self.deployed is not None, "the local stack is not deployed"
        return dict(self.deployed.outputs)

    def session(self) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106  (the local endpoint accepts any credentials)
            region_name=self.config.region,
        )

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    def start_batch_run(self, name: str | None = None) -> str:
        """Start one batch run exactly as the schedule does; returns the execution ARN."""
        schedule = self._state_machine_schedule()
        return self._start_execution(schedule, name)

    def fire(self, schedule: ScheduleSpec) -> None:
        """What EventBridge Scheduler does when `schedule` is due."""
        assert self.deployed is not None
        if schedule.target_arn.startswith("arn:aws:states:"):
            self._start_execution(schedule, None)
            return
        for logical_id, function in self.deployed.functions.items():
            if schedule.target_arn.endswith(f":function:{function.name}"):
                self.invoke(logical_id, json.loads(schedule.target_input or "{}"))
                return
        raise ValueError(
            f"schedule {schedule.logical_id} targets {schedule.target_arn}, which is not in the stack"
        )

    def invoke(self, function_logical_id: str, event: dict[str, Any]) -> Any:
        """Invoke a function's real handler in-process with a Lambda-like context.

        Its log and metric lines go to stderr, as the execution environments' do: Powertools' logger keeps the
        stdout it finds when first imported, and the metrics print to the current one."""
        assert self.deployed is not None
        function = self.deployed.functions[function_logical_id]
        context = LambdaContext(
            function_name=function.name,
            memory_limit_in_mb=function.memory,
            invoked_function_arn=self._function_arn(function.name),
            timeout_seconds=function.timeout,
        )
        with contextlib.redirect_stdout(sys.stderr):
            handler = load_handler(function.code_dir, function.handler)
            return handler(event, context)

    def wait_for_execution(self, execution_arn: str, timeout: float = 300) -> dict[str, Any]:
        """Block until the execution ends; returns DescribeExecution's answer."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if description["status"] != "RUNNING":
                return description
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still RUNNING after {timeout} s")
            time.sleep(0.2)

    # -- internals ------------------------------------------------------------------------------------

    def _reset_moto(self) -> None:
        # moto's backends are per process: a new local stack starts from empty services.
        reset = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(reset).close()  # noqa: S310  (an http URL we built for our own endpoint)

    def _record_outputs_stack(self) -> None:
        """A CloudFormation stack of the local stack's name holding its outputs, as `sam deploy` leaves one:
        `labelbatch --stack NAME` with AWS_ENDPOINT_URL pointed here then takes the deployed-stack path."""
        assert self.deployed is not None
        declared = load_template(self._template).get("Outputs", {})
        record = {
            # CloudFormation needs one resource; moto creates nothing for a wait condition handle.
            "Resources": {"OutputsRecord": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {
                name: {"Value": value, "Description": declared.get(name, {}).get("Description", "")}
                for name, value in self.deployed.outputs.items()
            },
        }
        with warnings.catch_warnings():
            # moto warns that it creates nothing for the handle, which is the point.
            warnings.filterwarnings(
                "ignore", message="Tried to parse AWS::CloudFormation::WaitConditionHandle"
            )
            self.client("cloudformation").create_stack(
                StackName=self.config.stack_name, TemplateBody=json.dumps(record)
            )

    def _disable_schedules(self) -> None:
        """Nothing fires the schedules (schedule=False), so the emulated Scheduler shows them DISABLED."""
        assert self.deployed is not None
        scheduler = self.client("scheduler")
        for spec in self.deployed.schedules:
            schedule = scheduler.get_schedule(Name=spec.name)
            scheduler.update_schedule(
                Name=spec.name,
                ScheduleExpression=schedule["ScheduleExpression"],
                FlexibleTimeWindow=schedule["FlexibleTimeWindow"],
                Target=schedule["Target"],
                State="DISABLED",
            )

    def _state_machine_schedule(self) -> ScheduleSpec:
        assert self.deployed is not None
        state_machine_arn = self.deployed.state_machines[STATE_MACHINE_LOGICAL_ID]
        for schedule in self.deployed.schedules:
            if schedule.target_arn == state_machine_arn:
                return schedule
        raise LookupError("the template has no schedule for the batch-run state machine")

    def _start_execution(self, schedule: ScheduleSpec, name: str | None) -> str:
        execution_name = (
            name or f"{schedule.logical_id}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        )
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=schedule.target_arn, name=execution_name, input=schedule.target_input or "{}"
        )
        return str(response["executionArn"])

    def _unload_function_modules(self) -> None:
        if self.deployed is not None:
            for code_dir in {function.code_dir for function in self.deployed.functions.values()}:
                unload_function_modules(code_dir)

    def _function_arn(self, function_name: str) -> str:
        return f"arn:aws:lambda:{self.config.region}:{DEFAULT_ACCOUNT_ID}:function:{function_name}"

    def _start_consumers(self) -> None:
        assert self.deployed is not None
        for mapping in self.deployed.event_source_mappings.values():
            function = self.deployed.functions[mapping.function_logical_id]
            consumer = QueueConsumer(
                mapping=mapping,
                function=function,
                function_arn=self._function_arn(function.name),
                lambda_client=self.client("lambda"),
                sqs_client=self.client("sqs"),
                region=self.config.region,
            )
            consumer.start()
            self._consumers.append(consumer)

    def _function_environment(self) -> dict[str, str]:
        """One process hosts every function, so their variables must agree where they overlap."""
        assert self.deployed is not None
        environment: dict[str, str] = {}
        for function in self.deployed.functions.values():
            for name, value in function.environment.items():
                if environment.setdefault(name, value) != value:
                    raise ValueError(f"functions disagree on environment variable {name}")
        return {
            **environment,
            # What the Lambda runtime provides, pointed at the local endpoint.
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_REGION": self.config.region,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            # No X-Ray daemon runs locally.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": self.config.function_log_level,
            "POWERTOOLS_METRICS_DISABLED": "false" if self.config.function_metrics else "true",
        }

    def _set_environment(self, variables: Mapping[str, str]) -> None:
        for name, value in variables.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _restore_environment(self) -> None:
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment = {}


@contextlib.contextmanager
def running_local_stack(config: LocalStackConfig | None = None) -> Iterator[LocalStack]:
    stack = LocalStack(config)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
