"""The local stack: the real template, definition and handlers on one endpoint, no AWS account.

moto (server mode, its Step Functions engine executing definitions for real) serves the AWS APIs; the Custom
Labels emulator answers Rekognition on the same endpoint; the template is deployed through the service APIs;
a consumer plays the SQS event source mapping and a scheduler plays EventBridge Scheduler. See docs/LOCAL.md.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.request
import uuid
import warnings
from collections import Counter
from collections.abc import Mapping
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
from labelbatch.local import OUTPUTS_PATH, TEMPLATE, local_session, moto_shims
from labelbatch.local.consumer import ConsumerStats, QueueConsumer
from labelbatch.local.deploy import deploy_stack
from labelbatch.local.deploy.model import DeployedStack, ScheduleSpec
from labelbatch.local.execution_environment import FunctionRuntime
from labelbatch.local.lambda_runtime import LambdaContext
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
    # Handler logs and EMF metric lines go to this process's stderr (execution_environment.py); the demo
    # quiets them.
    function_log_level: str = "INFO"
    function_metrics: bool = True
    # How the event source mapping switches on and off: at once, unless a test plays AWS's slow switches.
    mapping_switch: moto_shims.MappingSwitch = field(default_factory=moto_shims.MappingSwitch)


def local_parameters(config: LocalStackConfig) -> dict[str, str]:
    """Template parameters for the local stack: the emulator's demo model and short intervals."""
    project_arn, version_arn = demo_model_arns(config.region, DEFAULT_ACCOUNT_ID)
    return {
        "ProjectArn": project_arn,
        "ProjectVersionArn": version_arn,
        # The consumer paces itself to the emulated model's capacity, as a deployment sets the real one's.
        # What an operator would declare for this model: its calls per second, rounded down (at least 2).
        "TpsPerInferenceUnit": str(max(2, int(config.emulator.tps_per_inference_unit))),
        "PollIntervalSeconds": str(config.poll_seconds),
        "ModelStartTimeoutMinutes": "5",
        "MaxRunMinutes": "30",
        # Deployed as they run: with schedule=False nothing fires them, and Scheduler shows them so.
        "ScheduleState": "ENABLED" if config.schedule else "DISABLED",
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


class _RequestCounter:
    """Counts the AWS requests the endpoint serves by service, from SigV4's credential scope, so that
    benchmarks can price a run: every caller (handlers, the engine's SDK tasks, a user) signs its requests."""

    _SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        match = self._SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if match is not None:
            with self._lock:
                self.counts[match.group(1)] += 1
        return self.app(environ, start_response)


class LocalStack:
    """Start with `start()` (or use as a context manager); everything stops with `stop()`."""

    def __init__(self, config: LocalStackConfig | None = None, template: Path = TEMPLATE) -> None:
        self.config = config or LocalStackConfig()
        self._template = template
        self._server: BaseWSGIServer | None = None
        self._server_thread: threading.Thread | None = None
        self._consumers: list[QueueConsumer] = []
        self._scheduler: LocalScheduler | None = None
        self._runtimes: dict[str, FunctionRuntime] = {}
        self.emulator: CustomLabelsEmulator | None = None
        self.deployed: DeployedStack | None = None
        self._requests: _RequestCounter | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        # One line per HTTP request would drown everything else the stack and the handlers say.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # moto's engine logs at ERROR every exception an evaluation raises, those the definition catches
        # included; AWS logs nothing of the kind, and a failed execution says why in its history.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        moto_shims.apply_moto_shims()
        moto_shims.MAPPING_SWITCH = self.config.mapping_switch
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
        self._requests = _RequestCounter(outputs_api)
        self._server = make_server(
            self.config.host,
            self.config.port,
            self._requests,
            threaded=True,
            request_handler=MotoRequestHandler,
        )
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, name="endpoint", daemon=True
        )
        self._server_thread.start()
        moto_shims.SDK_TASK_PORT = self._server.server_address[1]
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
            self._runtimes = {
                logical_id: FunctionRuntime(
                    function.code_dir,
                    function.handler,
                    self._function_variables(function.name, function.environment),
                )
                for logical_id, function in self.deployed.functions.items()
            }
            self._start_consumers()
            if self.config.schedule:
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
        for runtime in self._runtimes.values():
            runtime.close()
        self._runtimes = {}

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- what callers use -----------------------------------------------------------------------------

    def requests(self) -> Counter[str]:
        """AWS requests served so far, by service (as SigV4 names them: s3, sqs, lambda, states, ...)."""
        assert self._requests is not None, "the local stack is not started"
        return Counter(self._requests.counts)

    def consumer_stats(self) -> ConsumerStats:
        """The invocations of the event source mappings' consumers, added up."""
        total = ConsumerStats()
        for consumer in self._consumers:
            total.invocations += consumer.stats.invocations
            total.timed_out += consumer.stats.timed_out
            total.failed += consumer.stats.failed
            total.seconds += consumer.stats.seconds
        return total

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
        return local_session(self.config.region)

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
        """Invoke a function's real handler in an execution environment of its own, as Lambda does when no
        warm one is free; InvocationError carries the handler's traceback."""
        assert self.deployed is not None
        function = self.deployed.functions[function_logical_id]
        context = LambdaContext(
            function_name=function.name,
            memory_limit_in_mb=function.memory,
            invoked_function_arn=self._function_arn(function.name),
            timeout_seconds=function.timeout,
        )
        environment = self._runtimes[function_logical_id].new_environment()
        try:
            return environment.invoke(event, context, timeout=function.timeout)
        finally:
            environment.close()

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
        record = {
            # CloudFormation needs one resource; moto creates nothing for a wait condition handle.
            "Resources": {"OutputsRecord": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": {name: {"Value": value} for name, value in self.deployed.outputs.items()},
        }
        with warnings.catch_warnings():
            # moto warns that it creates nothing for the handle, which is the point.
            warnings.filterwarnings(
                "ignore", message="Tried to parse AWS::CloudFormation::WaitConditionHandle"
            )
            self.client("cloudformation").create_stack(
                StackName=self.config.stack_name, TemplateBody=json.dumps(record)
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

    def _function_arn(self, function_name: str) -> str:
        return f"arn:aws:lambda:{self.config.region}:{DEFAULT_ACCOUNT_ID}:function:{function_name}"

    def _start_consumers(self) -> None:
        assert self.deployed is not None
        for mapping in self.deployed.event_source_mappings.values():
            function = self.deployed.functions[mapping.function_logical_id]
            consumer = QueueConsumer(
                mapping=mapping,
                function=function,
                runtime=self._runtimes[mapping.function_logical_id],
                function_arn=self._function_arn(function.name),
                lambda_client=self.client("lambda"),
                sqs_client=self.client("sqs"),
                region=self.config.region,
            )
            consumer.start()
            self._consumers.append(consumer)

    def _function_variables(self, name: str, declared: Mapping[str, str]) -> dict[str, str]:
        """A function's variables as the template declares them, and what the Lambda runtime adds, pointed at
        the local endpoint."""
        return {
            **declared,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_REGION": self.config.region,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            # No X-Ray daemon runs locally.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": self.config.function_log_level,
            "POWERTOOLS_METRICS_DISABLED": "false" if self.config.function_metrics else "true",
        }
