"""Creating each supported resource type through its service API, as CloudFormation's resource handlers would.

Most CloudFormation properties are the parameters of the API call that creates the resource, so a handler
renames the few that differ and `_call` converts the rest with the service's own model (botocore's input
shapes): "60" becomes 60 where the API takes a number, a policy object becomes its JSON text where it takes
a string. A property the API does not take is an error naming it, never silently dropped.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import string
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore
from botocore.exceptions import ClientError

from labelbatch.local.deploy.intrinsics import partition_of, scalar_text
from labelbatch.local.deploy.model import (
    EventSourceMappingSpec,
    FunctionSpec,
    ResourceCreationError,
    ScheduleSpec,
    TemplateError,
    UnsupportedPropertyError,
)
from labelbatch.local.deploy.template import local_artifact

# A resource's properties, every intrinsic function evaluated.
Properties = dict[str, Any]


@dataclass(frozen=True)
class Created:
    """What `Ref` (ref) and `Fn::GetAtt` (attributes) return for a created resource."""

    ref: str
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass
class DeployContext:
    """The target of one deployment and what it has collected so far."""

    session: boto3.Session
    endpoint_url: str
    region: str
    account_id: str
    stack_name: str
    base_dir: Path
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    function_arns: dict[str, str] = field(default_factory=dict)
    event_source_mappings: dict[str, EventSourceMappingSpec] = field(default_factory=dict)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    state_machines: dict[str, str] = field(default_factory=dict)
    deviations: dict[str, list[str]] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict)

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service,  # type: ignore[call-overload]  # the service name is chosen at run time
                endpoint_url=self.endpoint_url,
                region_name=self.region,
            )
        return self._clients[service]

    def physical_name(self, logical_id: str, max_length: int, *, lowercase: bool = False) -> str:
        """CloudFormation's name for a resource the template leaves unnamed: <stack>-<LogicalId>-<suffix>."""
        suffix = "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))
        name = f"{self.stack_name}-{logical_id}"[: max_length - len(suffix) - 1] + f"-{suffix}"
        return name.lower() if lowercase else name

    def note(self, logical_id: str, deviation: str) -> None:
        self.deviations.setdefault(logical_id, []).append(deviation)

    def function_logical_id(self, reference: str) -> str:
        """The logical id of this stack's function that a FunctionName property (name or ARN) refers to."""
        for logical_id, spec in self.functions.items():
            if reference in (spec.name, self.function_arns[logical_id]):
                return logical_id
        raise TemplateError(f"{reference} is not a function of this stack; only its own handlers run locally")


Handler = Callable[[DeployContext, str, Properties, str], Created]


def _call(ctx: DeployContext, service: str, operation: str, arguments: Properties, where: str) -> Any:
    """The API call `operation` with `arguments` converted to its input shape."""
    shaped = api_value(arguments, _input_shape(ctx, service, operation), where)
    return getattr(ctx.client(service), botocore.xform_name(operation))(**shaped)


def _input_shape(ctx: DeployContext, service: str, operation: str, member: str | None = None) -> Any:
    shape = ctx.client(service).meta.service_model.operation_model(operation).input_shape
    return shape.members[member] if member else shape


def api_value(value: Any, shape: Any, where: str) -> Any:
    """`value` as the API takes `shape`, from CloudFormation's JSON: names it does not know are an error."""
    kind = shape.type_name
    if kind in ("structure", "map"):
        if not isinstance(value, dict):
            raise TemplateError(f"{where}: expected an object, got {value!r}")
        # A map's keys are data (environment variables), unless the model lists them (queue attributes).
        names = shape.members if kind == "structure" else shape.key.enum or value
        if unknown := sorted(set(value) - set(names)):
            raise UnsupportedPropertyError(where, unknown)
        members = shape.members if kind == "structure" else dict.fromkeys(value, shape.value)
        return {name: api_value(item, members[name], f"{where}.{name}") for name, item in value.items()}
    if kind == "list":
        if not isinstance(value, list):
            raise TemplateError(f"{where}: expected a list, got {value!r}")
        return [api_value(item, shape.member, f"{where}[{index}]") for index, item in enumerate(value)]
    if kind == "string":
        # CloudFormation takes documents (policies, redrive policies) as objects; the APIs take their text.
        return json.dumps(value) if isinstance(value, dict) else scalar_text(value, where)
    if kind == "boolean":
        return _flag(value, where)
    try:
        return {"integer": int, "long": int, "double": float, "float": float}.get(kind, _as_is)(value)
    except (TypeError, ValueError):
        raise TemplateError(f"{where}: {value!r} is not a {kind}") from None


def _as_is(value: Any) -> Any:
    return value


def _flag(value: Any, where: str) -> bool:
    """A boolean as CloudFormation passes it: true, "true" or "True"."""
    text = scalar_text(value, where).lower()
    if text not in ("true", "false"):
        raise TemplateError(f"{where}: {value!r} is not true or false")
    return text == "true"


def _camel(value: Any) -> Any:
    """CloudFormation's PascalCase names as the camelCase APIs (Step Functions, Logs) spell them."""
    if isinstance(value, dict):
        return {name[:1].lower() + name[1:]: _camel(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def _honoured(props: Properties, names: frozenset[str], where: str) -> None:
    """Only `names` may be set: where no single API call takes the properties, and where the local stack plays
    the resource itself (functions, their mappings, schedules), whose API would take more than its runtime,
    consumer and scheduler honour."""
    if unknown := sorted(set(props) - names):
        raise UnsupportedPropertyError(where, unknown)


_FUNCTION_PROPERTIES = frozenset(
    {"FunctionName", "Code", "Handler", "Runtime", "Role", "Environment", "Timeout", "MemorySize"}
    # Passed as declared, with no effect on the local runtime: it neither traces nor writes to log groups.
    | {"Description", "Architectures", "TracingConfig", "LoggingConfig", "EphemeralStorage", "Layers", "Tags"}
)
_MAPPING_PROPERTIES = frozenset(
    {"EventSourceArn", "FunctionName", "Enabled", "BatchSize", "MaximumBatchingWindowInSeconds"}
    | {"FunctionResponseTypes", "ScalingConfig"}
)
_SCHEDULE_PROPERTIES = frozenset(
    {"Name", "GroupName", "Description", "ScheduleExpression", "ScheduleExpressionTimezone", "State"}
    | {"FlexibleTimeWindow", "KmsKeyArn", "Target"}
)
_SCHEDULE_TARGET_PROPERTIES = frozenset({"Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig"})


def _bucket(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    name = props.pop("BucketName", None) or ctx.physical_name(logical_id, 63, lowercase=True)
    location = (
        {} if ctx.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": ctx.region}}
    )
    ctx.client("s3").create_bucket(Bucket=name, **location)
    for key, value in props.items():
        if key not in _BUCKET_CONFIGURATIONS:
            raise UnsupportedPropertyError(where, [key])
        operation, argument, to_api = _BUCKET_CONFIGURATIONS[key]
        _call(ctx, "s3", operation, {"Bucket": name, argument: to_api(value)}, f"{where}.{key}")
    return Created(
        ref=name,
        attributes={
            "Arn": f"arn:{ctx.partition}:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
        },
    )


def _encryption(configuration: Any) -> Any:
    rules = configuration.pop("ServerSideEncryptionConfiguration")
    for rule in rules:
        rule["ApplyServerSideEncryptionByDefault"] = rule.pop("ServerSideEncryptionByDefault")
    return {"Rules": rules, **configuration}


def _lifecycle(configuration: Any) -> Any:
    for rule in configuration.get("Rules", []):
        rule["Filter"] = {"Prefix": rule.pop("Prefix", "")}
        if "Id" in rule:
            rule["ID"] = rule.pop("Id")
        if "ExpirationInDays" in rule:
            rule["Expiration"] = {"Days": rule.pop("ExpirationInDays")}
    return configuration


def _notification(configuration: Any) -> Any:
    # moto's CloudFormation ignores this property; set through the API, moto delivers them to SQS.
    for entry in configuration.get("QueueConfigurations", []):
        entry["QueueArn"], entry["Events"] = entry.pop("Queue"), [entry.pop("Event")]
        if "Filter" in entry:
            key_filter = entry["Filter"].pop("S3Key")
            entry["Filter"]["Key"] = {"FilterRules": key_filter.pop("Rules"), **key_filter}
    return configuration


# Each bucket property is the argument of one PutBucket* call, in the API's shape after its conversion.
_BUCKET_CONFIGURATIONS: dict[str, tuple[str, str, Callable[[Any], Any]]] = {
    "OwnershipControls": ("PutBucketOwnershipControls", "OwnershipControls", _as_is),
    "PublicAccessBlockConfiguration": ("PutPublicAccessBlock", "PublicAccessBlockConfiguration", _as_is),
    "BucketEncryption": ("PutBucketEncryption", "ServerSideEncryptionConfiguration", _encryption),
    "VersioningConfiguration": ("PutBucketVersioning", "VersioningConfiguration", _as_is),
    "LifecycleConfiguration": ("PutBucketLifecycleConfiguration", "LifecycleConfiguration", _lifecycle),
    "NotificationConfiguration": (
        "PutBucketNotificationConfiguration",
        "NotificationConfiguration",
        _notification,
    ),
}


def _bucket_policy(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    policy = props["PolicyDocument"]
    statements = (json.loads(policy) if isinstance(policy, str) else policy).get("Statement", [])
    if any(
        "Condition" in statement
        for statement in (statements if isinstance(statements, list) else [statements])
    ):
        # moto judges a statement whose Condition it cannot evaluate as a denial, whatever its Effect: the
        # usual "Deny when aws:SecureTransport is false" statement would refuse every object request.
        ctx.note(
            logical_id, "not applied: the emulator would deny object requests on its conditional statements"
        )
    else:
        props["Policy"] = props.pop("PolicyDocument")
        _call(ctx, "s3", "PutBucketPolicy", props, where)
    return Created(ref=props["Bucket"])


def _queue(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    sqs = ctx.client("sqs")
    props.pop("Tags", None)
    name = props.pop("QueueName", None) or ctx.physical_name(logical_id, 80)
    # The other queue properties are SQS queue attributes.
    attributes = api_value(props, _input_shape(ctx, "sqs", "CreateQueue", "Attributes"), where)
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    kept = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    for attribute in sorted(set(attributes) - set(kept)):
        # moto accepts some attributes without keeping them (RedriveAllowPolicy): say so rather than pretend.
        ctx.note(logical_id, f"{attribute} is accepted but not kept by the emulator")
    return Created(ref=url, attributes={"Arn": kept["QueueArn"], "QueueName": name, "QueueUrl": url})


def _queue_policy(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    _honoured(props, frozenset({"Queues", "PolicyDocument"}), where)
    for url in props["Queues"]:
        attributes = {"Policy": props["PolicyDocument"]}
        _call(ctx, "sqs", "SetQueueAttributes", {"QueueUrl": url, "Attributes": attributes}, where)
    return Created(ref=ctx.physical_name(logical_id, 128))


def _role(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    iam = ctx.client("iam")
    policies, managed = props.pop("Policies", []), props.pop("ManagedPolicyArns", [])
    name = props.setdefault("RoleName", ctx.physical_name(logical_id, 64))
    role = _call(ctx, "iam", "CreateRole", props, where)["Role"]
    for policy in policies:
        document = policy["PolicyDocument"]
        if isinstance(document, dict) and "Version" not in document:
            # IAM reads a document without Version as 2008-10-17 (SAM writes its generated policies that way);
            # moto rejects any version before 2012-10-17. The versions differ only in policy variables, and
            # moto does not evaluate policies.
            document["Version"] = "2012-10-17"
            ctx.note(
                logical_id, f"policy {policy['PolicyName']} has no Version; given 2012-10-17 for the emulator"
            )
        _call(ctx, "iam", "PutRolePolicy", {"RoleName": name, **policy}, f"{where}.Policies")
    for policy_arn in managed:
        try:
            iam.get_policy(PolicyArn=policy_arn)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchEntity":
                raise
            # moto knows AWS managed policies only when configured to load them all (slow to start).
            ctx.note(
                logical_id, f"managed policy {policy_arn} is unknown to the emulator: recorded, not attached"
            )
        else:
            iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return Created(ref=name, attributes={"Arn": role["Arn"], "RoleId": role["RoleId"]})


def _function(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    _honoured(props, _FUNCTION_PROPERTIES, where)
    code = props.pop("Code")
    code_dir = local_artifact(ctx.base_dir, code.get("S3Bucket"), code.get("S3Key"))
    if code_dir is None:
        raise TemplateError(f"{where}.Code: only a local CodeUri can run locally, not {code}")
    if not code_dir.is_dir():
        raise TemplateError(f"{where}.Code: CodeUri {code['S3Key']} is not a directory next to the template")
    for layer in props.pop("Layers", []):
        # moto accepts only layers published to it; handlers run with the local environment's packages.
        ctx.note(
            logical_id, f"layer {layer} is not attached: handlers run with the local environment's packages"
        )
    props.pop("Tags", None)
    name = props.setdefault("FunctionName", ctx.physical_name(logical_id, 64))
    # CloudFormation's defaults where the template leaves them out.
    props.setdefault("Timeout", 3)
    props.setdefault("MemorySize", 128)
    props.setdefault("Environment", {"Variables": {}})
    arguments = api_value(props, _input_shape(ctx, "lambda", "CreateFunction"), where)
    function = ctx.client("lambda").create_function(Code={"ZipFile": _zip_directory(code_dir)}, **arguments)
    for key in sorted(set(arguments) - set(function) - {"Environment"}):
        # moto drops some settings (LoggingConfig): the local runtime logs to the console anyway.
        ctx.note(logical_id, f"{key} is accepted but not kept by the emulator")
    ctx.functions[logical_id] = FunctionSpec(
        name=name,
        handler=arguments["Handler"],
        code_dir=code_dir,
        environment=arguments["Environment"].get("Variables", {}),
        timeout=arguments["Timeout"],
        memory=arguments["MemorySize"],
    )
    ctx.function_arns[logical_id] = function["FunctionArn"]
    return Created(ref=name, attributes={"Arn": function["FunctionArn"]})


def _zip_directory(directory: Path) -> bytes:
    """The code package moto requires; it never runs it (the local stack runs handlers itself)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def _event_invoke_config(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    _call(ctx, "lambda", "PutFunctionEventInvokeConfig", props, where)
    return Created(ref=ctx.physical_name(logical_id, 128))


def _event_source_mapping(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    _honoured(props, _MAPPING_PROPERTIES, where)
    queue_arn = props["EventSourceArn"]
    if not queue_arn.startswith(f"arn:{ctx.partition}:sqs:"):
        raise TemplateError(f"{where}: only SQS event sources run locally, not {queue_arn}")
    function_logical_id = ctx.function_logical_id(props["FunctionName"])
    props["FunctionName"] = ctx.functions[function_logical_id].name
    # CloudFormation's defaults for SQS. Enabled is kept as declared: the batch run switches the mapping,
    # the local consumer follows its state.
    props = {"BatchSize": 10, "MaximumBatchingWindowInSeconds": 0, **props}
    mapping = _call(ctx, "lambda", "CreateEventSourceMapping", props, where)
    ctx.event_source_mappings[logical_id] = EventSourceMappingSpec(
        uuid=mapping["UUID"],
        function_logical_id=function_logical_id,
        function_name=props["FunctionName"],
        queue_arn=queue_arn,
        queue_url=ctx.client("sqs").get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"],
        batch_size=mapping["BatchSize"],
        batching_window=mapping["MaximumBatchingWindowInSeconds"],
        maximum_concurrency=mapping.get("ScalingConfig", {}).get("MaximumConcurrency"),
        function_response_types=tuple(mapping.get("FunctionResponseTypes", [])),
    )
    return Created(
        ref=mapping["UUID"],
        attributes={"Id": mapping["UUID"], "EventSourceMappingArn": mapping["EventSourceMappingArn"]},
    )


def _log_group(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    props.pop("Tags", None)
    retention = props.pop("RetentionInDays", None)
    name = props.setdefault("LogGroupName", ctx.physical_name(logical_id, 512))
    _call(ctx, "logs", "CreateLogGroup", _camel(props), where)
    if retention is not None:
        _call(ctx, "logs", "PutRetentionPolicy", {"logGroupName": name, "retentionInDays": retention}, where)
    arn = f"arn:{ctx.partition}:logs:{ctx.region}:{ctx.account_id}:log-group:{name}:*"
    return Created(ref=name, attributes={"Arn": arn})


def _state_machine(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    props.pop("Tags", None)
    name = props.pop("StateMachineName", None) or ctx.physical_name(logical_id, 80)
    location = props.pop("DefinitionS3Location", {})
    path = local_artifact(ctx.base_dir, location.get("Bucket"), location.get("Key"))
    if path is None:
        raise TemplateError(f"{where}: only a local DefinitionUri can be read locally, not {location}")
    definition = path.read_text(encoding="utf-8")
    # ${Name} replaced for each DefinitionSubstitutions entry, as CloudFormation does.
    substitutions = {
        key: scalar_text(value, where) for key, value in props.pop("DefinitionSubstitutions", {}).items()
    }
    definition = re.sub(r"\$\{([^}]+)\}", lambda match: substitutions.get(match[1], match[0]), definition)
    try:
        json.loads(definition)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{where}: the definition is not JSON after substitution: {exc}") from exc
    if "StateMachineType" in props:
        props["Type"] = props.pop("StateMachineType")
    arguments = _camel(props) | {"name": name, "definition": definition}
    arn: str = _call(ctx, "stepfunctions", "CreateStateMachine", arguments, where)["stateMachineArn"]
    ctx.state_machines[logical_id] = arn
    return Created(ref=arn, attributes={"Arn": arn, "Name": name})


def _schedule(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    _honoured(props, _SCHEDULE_PROPERTIES, where)
    _honoured(props.get("Target", {}), _SCHEDULE_TARGET_PROPERTIES, f"{where}.Target")
    props = {"Name": ctx.physical_name(logical_id, 64), "State": "ENABLED", **props}
    arguments = api_value(props, _input_shape(ctx, "scheduler", "CreateSchedule"), where)
    arn: str = ctx.client("scheduler").create_schedule(**arguments)["ScheduleArn"]
    # The emulated scheduler never fires: the local scheduler does, from these specs.
    ctx.schedules.append(
        ScheduleSpec(
            logical_id=logical_id,
            name=arguments["Name"],
            expression=arguments["ScheduleExpression"],
            state=arguments["State"],
            target_arn=arguments["Target"]["Arn"],
            target_input=arguments["Target"].get("Input"),
        )
    )
    return Created(ref=arguments["Name"], attributes={"Arn": arn})


# The characters SSM allows in a parameter name (PutParameter's naming constraints). moto accepts any name,
# but the template relies on SSM's refusal: NestedPrefixesAreRejected must stop a local deployment as on AWS.
_SSM_PARAMETER_NAME = re.compile(r"[a-zA-Z0-9_.\-/]+")


def _parameter(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    props.pop("Tags", None)
    name = props.setdefault("Name", ctx.physical_name(logical_id, 1011))
    if not _SSM_PARAMETER_NAME.fullmatch(name):
        raise ResourceCreationError(
            f"{where}: SSM refuses the parameter name {name!r} (letters, digits and _.-/ only)"
        )
    arguments = api_value(props, _input_shape(ctx, "ssm", "PutParameter"), where)
    ctx.client("ssm").put_parameter(**arguments)
    return Created(ref=name, attributes={"Type": arguments["Type"], "Value": arguments["Value"]})


def _table(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    props = {"TableName": ctx.physical_name(logical_id, 255), "BillingMode": "PROVISIONED", **props}
    table = _call(ctx, "dynamodb", "CreateTable", props, where)["TableDescription"]
    return Created(ref=props["TableName"], attributes={"Arn": table["TableArn"]})


def _topic(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    name = props.pop("TopicName", None) or ctx.physical_name(logical_id, 256)
    tags = props.pop("Tags", [])
    # The other topic properties are SNS topic attributes, whose names the SNS model leaves open.
    if unknown := sorted(set(props) - _TOPIC_ATTRIBUTES):
        raise UnsupportedPropertyError(where, unknown)
    arguments = {"Name": name, "Attributes": props, "Tags": tags}
    arn: str = _call(ctx, "sns", "CreateTopic", arguments, where)["TopicArn"]
    return Created(ref=arn, attributes={"TopicArn": arn, "TopicName": name})


_TOPIC_ATTRIBUTES = frozenset({"DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication"})


def _subscription(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    arn = _call(ctx, "sns", "Subscribe", {**props, "ReturnSubscriptionArn": True}, where)["SubscriptionArn"]
    return Created(ref=arn, attributes={"Arn": arn})


def _topic_policy(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    policy = props.pop("PolicyDocument")
    for topic_arn in props.pop("Topics"):
        arguments = {"TopicArn": topic_arn, "AttributeName": "Policy", "AttributeValue": policy}
        _call(ctx, "sns", "SetTopicAttributes", arguments | props, where)
    return Created(ref=ctx.physical_name(logical_id, 128))


def _key(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    rotation, enabled = props.pop("EnableKeyRotation", False), props.pop("Enabled", True)
    # The waiting period applies only when the stack deletes the key.
    props.pop("PendingWindowInDays", None)
    if "KeyPolicy" in props:
        props["Policy"] = props.pop("KeyPolicy")
    metadata = _call(ctx, "kms", "CreateKey", props, where)["KeyMetadata"]
    if _flag(rotation, f"{where}.EnableKeyRotation"):
        ctx.client("kms").enable_key_rotation(KeyId=metadata["KeyId"])
    if not _flag(enabled, f"{where}.Enabled"):
        ctx.client("kms").disable_key(KeyId=metadata["KeyId"])
    return Created(ref=metadata["KeyId"], attributes={"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]})


def _alarm(ctx: DeployContext, logical_id: str, props: Properties, where: str) -> Created:
    name = props.setdefault("AlarmName", ctx.physical_name(logical_id, 255))
    _call(ctx, "cloudwatch", "PutMetricAlarm", props, where)
    arn = f"arn:{ctx.partition}:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}"
    return Created(ref=name, attributes={"Arn": arn})


HANDLERS: dict[str, Handler] = {
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SQS::Queue": _queue,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::IAM::Role": _role,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::EventInvokeConfig": _event_invoke_config,
    "AWS::Lambda::EventSourceMapping": _event_source_mapping,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::SSM::Parameter": _parameter,
    "AWS::DynamoDB::Table": _table,
    "AWS::SNS::Topic": _topic,
    "AWS::SNS::Subscription": _subscription,
    "AWS::SNS::TopicPolicy": _topic_policy,
    "AWS::KMS::Key": _key,
    "AWS::CloudWatch::Alarm": _alarm,
}
