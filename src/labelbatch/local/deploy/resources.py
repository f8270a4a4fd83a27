"""Creating each supported resource type through its service API, as CloudFormation's resource handlers would.

A handler reads the resolved properties through `Props` (a property it neither applies nor ignores on purpose
is an error), makes the service calls and returns what `Ref` and `Fn::GetAtt` of the resource give.
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
from botocore.exceptions import ClientError

from labelbatch.local.deploy.intrinsics import partition_of
from labelbatch.local.deploy.model import (
    EventSourceMappingSpec,
    FunctionSpec,
    ResourceCreationError,
    ScheduleSpec,
    TemplateError,
)
from labelbatch.local.deploy.props import Props
from labelbatch.local.deploy.template import local_artifact


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


Handler = Callable[[DeployContext, str, Props], Created]


def _bucket(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    s3 = ctx.client("s3")
    name = props.opt_text("BucketName") or ctx.physical_name(logical_id, 63, lowercase=True)
    location = (
        {} if ctx.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": ctx.region}}
    )
    s3.create_bucket(Bucket=name, **location)
    if "OwnershipControls" in props:
        with props.nested("OwnershipControls") as controls:
            rules = [_read(rule, rule.text, "ObjectOwnership") for rule in controls.nested_list("Rules")]
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": rules})
    if "PublicAccessBlockConfiguration" in props:
        with props.nested("PublicAccessBlockConfiguration") as block:
            settings = {key: block.flag(key) for key in _PUBLIC_ACCESS_BLOCK_SETTINGS}
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=settings)
    if "BucketEncryption" in props:
        with props.nested("BucketEncryption") as encryption:
            rules = [
                _encryption_rule(rule) for rule in encryption.nested_list("ServerSideEncryptionConfiguration")
            ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "VersioningConfiguration" in props:
        with props.nested("VersioningConfiguration") as versioning:
            status = versioning.text("Status")
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
    if "LifecycleConfiguration" in props:
        with props.nested("LifecycleConfiguration") as lifecycle:
            rules = [_lifecycle_rule(rule) for rule in lifecycle.nested_list("Rules")]
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    if "NotificationConfiguration" in props:
        # moto's CloudFormation ignores this property; set through the API, moto delivers them to SQS.
        with props.nested("NotificationConfiguration") as notification:
            queues = [_queue_notification(entry) for entry in notification.nested_list("QueueConfigurations")]
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"QueueConfigurations": queues}
        )
    props.ignore("Tags")
    return Created(
        ref=name,
        attributes={
            "Arn": f"arn:{ctx.partition}:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
        },
    )


_PUBLIC_ACCESS_BLOCK_SETTINGS = (
    "BlockPublicAcls",
    "BlockPublicPolicy",
    "IgnorePublicAcls",
    "RestrictPublicBuckets",
)


def _read(props: Props, read: Callable[[str], Any], *keys: str) -> dict[str, Any]:
    """`read(key)` of each of `keys`, which must be all the properties of `props`."""
    with props:
        return {key: read(key) for key in keys}


def _encryption_rule(rule: Props) -> dict[str, Any]:
    with rule, rule.nested("ServerSideEncryptionByDefault") as default:
        applied = {"SSEAlgorithm": default.text("SSEAlgorithm")}
        applied |= default.optional(default.text, "KMSMasterKeyID")
        return {
            "ApplyServerSideEncryptionByDefault": applied,
            "BucketKeyEnabled": rule.flag("BucketKeyEnabled"),
        }


def _lifecycle_rule(rule: Props) -> dict[str, Any]:
    """A lifecycle rule in the S3 API's shape, which differs from CloudFormation's."""
    with rule:
        api_rule: dict[str, Any] = {
            "Status": rule.text("Status"),
            "Filter": {"Prefix": rule.opt_text("Prefix") or ""},
        }
        if "Id" in rule:
            api_rule["ID"] = rule.text("Id")
        if "ExpirationInDays" in rule:
            api_rule["Expiration"] = {"Days": rule.integer("ExpirationInDays")}
        if "AbortIncompleteMultipartUpload" in rule:
            abort = rule.nested("AbortIncompleteMultipartUpload")
            api_rule["AbortIncompleteMultipartUpload"] = _read(abort, abort.integer, "DaysAfterInitiation")
        if "NoncurrentVersionExpiration" in rule:
            with rule.nested("NoncurrentVersionExpiration") as noncurrent:
                expiration = {"NoncurrentDays": noncurrent.integer("NoncurrentDays")}
                expiration |= noncurrent.optional(noncurrent.integer, "NewerNoncurrentVersions")
            api_rule["NoncurrentVersionExpiration"] = expiration
        return api_rule


def _queue_notification(entry: Props) -> dict[str, Any]:
    with entry:
        configuration: dict[str, Any] = {"QueueArn": entry.text("Queue"), "Events": [entry.text("Event")]}
        if "Filter" in entry:
            with entry.nested("Filter") as key_filter, key_filter.nested("S3Key") as s3_key:
                rules = [_read(rule, rule.text, "Name", "Value") for rule in s3_key.nested_list("Rules")]
            configuration["Filter"] = {"Key": {"FilterRules": rules}}
        return configuration


def _bucket_policy(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    bucket, policy = props.text("Bucket"), props.document("PolicyDocument")
    statements = json.loads(policy).get("Statement", [])
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
        ctx.client("s3").put_bucket_policy(Bucket=bucket, Policy=policy)
    return Created(ref=bucket)


# CloudFormation's queue properties are the SQS attribute names; these two are JSON documents.
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
_QUEUE_DOCUMENT_ATTRIBUTES = ("RedriveAllowPolicy", "RedrivePolicy")


def _queue(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    sqs = ctx.client("sqs")
    attributes = props.optional(props.text, *_QUEUE_ATTRIBUTES)
    attributes |= props.optional(props.document, *_QUEUE_DOCUMENT_ATTRIBUTES)
    fifo = props.flag("FifoQueue")
    generated = ctx.physical_name(logical_id, 75) + ".fifo" if fifo else ctx.physical_name(logical_id, 80)
    name = props.opt_text("QueueName") or generated
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    kept = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    for attribute in sorted(set(attributes) - set(kept)):
        # moto accepts some attributes without keeping them (RedriveAllowPolicy): say so rather than pretend.
        ctx.note(logical_id, f"{attribute} is accepted but not kept by the emulator")
    props.ignore("Tags")
    return Created(ref=url, attributes={"Arn": kept["QueueArn"], "QueueName": name, "QueueUrl": url})


def _queue_policy(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    policy = props.document("PolicyDocument")
    for url in props.text_list("Queues"):
        ctx.client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    return Created(ref=ctx.physical_name(logical_id, 128))


def _role(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    iam = ctx.client("iam")
    name = props.opt_text("RoleName") or ctx.physical_name(logical_id, 64)
    role = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=props.document("AssumeRolePolicyDocument"),
        **props.optional(props.text, "Path", "Description", "PermissionsBoundary"),
        **props.optional(props.integer, "MaxSessionDuration"),
    )["Role"]
    for policy in props.nested_list("Policies") if "Policies" in props else []:
        with policy:
            policy_name, document = policy.text("PolicyName"), policy.value("PolicyDocument")
        if isinstance(document, dict) and "Version" not in document:
            # IAM reads a document without Version as 2008-10-17 (SAM writes its generated policies that way);
            # moto rejects any version before 2012-10-17. The versions differ only in policy variables, and
            # moto does not evaluate policies.
            document = {"Version": "2012-10-17", **document}
            ctx.note(logical_id, f"policy {policy_name} has no Version; given 2012-10-17 for the emulator")
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
    for policy_arn in props.text_list("ManagedPolicyArns") if "ManagedPolicyArns" in props else []:
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
    props.ignore("Tags")
    return Created(ref=name, attributes={"Arn": role["Arn"], "RoleId": role["RoleId"]})


def _function(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    name = props.opt_text("FunctionName") or ctx.physical_name(logical_id, 64)
    with props.nested("Code") as code:
        bucket, key = code.opt_value("S3Bucket"), code.opt_value("S3Key")
    code_dir = local_artifact(ctx.base_dir, bucket, key)
    if code_dir is None:
        raise TemplateError(f"{code.where}: only a local CodeUri can run locally, not {bucket}/{key}")
    if not code_dir.is_dir():
        raise TemplateError(f"{code.where}: CodeUri {key} is not a directory next to the template")
    environment: dict[str, str] = {}
    if "Environment" in props:
        with props.nested("Environment") as declared, declared.nested("Variables") as variables:
            environment = {key: variables.text(key) for key in variables.names()}
    spec = FunctionSpec(
        name=name,
        handler=props.text("Handler"),
        code_dir=code_dir,
        environment=environment,
        # CloudFormation's defaults where the template leaves them out.
        timeout=props.opt_integer("Timeout") or 3,
        memory=props.opt_integer("MemorySize") or 128,
    )
    arguments = {
        "FunctionName": name,
        "Runtime": props.text("Runtime"),
        "Role": props.text("Role"),
        "Handler": spec.handler,
        "Code": {"ZipFile": _zip_directory(code_dir)},
        "Timeout": spec.timeout,
        "MemorySize": spec.memory,
        "Environment": {"Variables": environment},
    }
    arguments |= props.optional(props.text, "Description") | props.optional(props.text_list, "Architectures")
    # Passed as declared; the local runtime neither traces nor writes to log groups.
    arguments |= props.optional(props.value, "TracingConfig", "LoggingConfig", "EphemeralStorage")
    for layer in props.text_list("Layers") if "Layers" in props else []:
        # moto accepts only layers published to it; handlers run in-process with the environment's packages.
        ctx.note(
            logical_id, f"layer {layer} is not attached: handlers run with the local environment's packages"
        )
    function = ctx.client("lambda").create_function(**arguments)
    for key in sorted(set(arguments) - set(function) - {"Code", "Environment"}):
        # moto drops some settings (LoggingConfig): the local runtime logs to the console anyway.
        ctx.note(logical_id, f"{key} is accepted but not kept by the emulator")
    if "ReservedConcurrentExecutions" in props:
        ctx.client("lambda").put_function_concurrency(
            FunctionName=name, ReservedConcurrentExecutions=props.integer("ReservedConcurrentExecutions")
        )
    props.ignore("Tags")
    ctx.functions[logical_id] = spec
    ctx.function_arns[logical_id] = function["FunctionArn"]
    return Created(ref=name, attributes={"Arn": function["FunctionArn"]})


def _zip_directory(directory: Path) -> bytes:
    """The code package moto requires; it never runs it (the local stack runs handlers in-process)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def _event_invoke_config(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    ctx.client("lambda").put_function_event_invoke_config(
        FunctionName=props.text("FunctionName"),
        Qualifier=props.text("Qualifier"),
        **props.optional(props.integer, "MaximumRetryAttempts", "MaximumEventAgeInSeconds"),
        **props.optional(props.value, "DestinationConfig"),
    )
    return Created(ref=ctx.physical_name(logical_id, 128))


def _event_source_mapping(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    queue_arn = props.text("EventSourceArn")
    if not queue_arn.startswith(f"arn:{ctx.partition}:sqs:"):
        raise TemplateError(f"{props.where}: only SQS event sources run locally, not {queue_arn}")
    function_logical_id = ctx.function_logical_id(props.text("FunctionName"))
    arguments: dict[str, Any] = {
        "EventSourceArn": queue_arn,
        "FunctionName": ctx.functions[function_logical_id].name,
        # Kept as declared: the batch run switches the mapping, the local consumer follows its state.
        "Enabled": props.flag("Enabled", True),
        "BatchSize": props.opt_integer("BatchSize") or 10,  # CloudFormation's default for SQS
        "MaximumBatchingWindowInSeconds": props.opt_integer("MaximumBatchingWindowInSeconds") or 0,
        "FunctionResponseTypes": props.optional(props.text_list, "FunctionResponseTypes").get(
            "FunctionResponseTypes", []
        ),
    }
    maximum_concurrency = None
    if "ScalingConfig" in props:
        with props.nested("ScalingConfig") as scaling:
            maximum_concurrency = scaling.integer("MaximumConcurrency")
        arguments["ScalingConfig"] = {"MaximumConcurrency": maximum_concurrency}
    mapping = ctx.client("lambda").create_event_source_mapping(**arguments)
    ctx.event_source_mappings[logical_id] = EventSourceMappingSpec(
        uuid=mapping["UUID"],
        function_logical_id=function_logical_id,
        function_name=arguments["FunctionName"],
        queue_arn=queue_arn,
        queue_url=ctx.client("sqs").get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"],
        batch_size=arguments["BatchSize"],
        batching_window=arguments["MaximumBatchingWindowInSeconds"],
        maximum_concurrency=maximum_concurrency,
        function_response_types=tuple(arguments["FunctionResponseTypes"]),
    )
    return Created(
        ref=mapping["UUID"],
        attributes={"Id": mapping["UUID"], "EventSourceMappingArn": mapping["EventSourceMappingArn"]},
    )


def _log_group(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    logs = ctx.client("logs")
    name = props.opt_text("LogGroupName") or ctx.physical_name(logical_id, 512)
    key = props.optional(props.text, "KmsKeyId")
    logs.create_log_group(logGroupName=name, **({"kmsKeyId": key["KmsKeyId"]} if key else {}))
    if "RetentionInDays" in props:
        logs.put_retention_policy(logGroupName=name, retentionInDays=props.integer("RetentionInDays"))
    props.ignore("Tags")
    arn = f"arn:{ctx.partition}:logs:{ctx.region}:{ctx.account_id}:log-group:{name}:*"
    return Created(ref=name, attributes={"Arn": arn})


def _state_machine(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    name = props.opt_text("StateMachineName") or ctx.physical_name(logical_id, 80)
    if "DefinitionS3Location" in props:
        with props.nested("DefinitionS3Location") as location:
            bucket, key = location.opt_value("Bucket"), location.opt_value("Key")
        path = local_artifact(ctx.base_dir, bucket, key)
        if path is None:
            raise TemplateError(
                f"{location.where}: only a local DefinitionUri can be read locally, not {bucket}/{key}"
            )
        definition = path.read_text(encoding="utf-8")
    elif "DefinitionString" in props:
        definition = props.text("DefinitionString")
    else:
        definition = json.dumps(props.value("Definition"))
    if "DefinitionSubstitutions" in props:
        # ${Name} replaced for each DefinitionSubstitutions entry, as CloudFormation does.
        with props.nested("DefinitionSubstitutions") as declared:
            substitutions = {key: declared.text(key) for key in declared.names()}
        definition = re.sub(r"\$\{([^}]+)\}", lambda match: substitutions.get(match[1], match[0]), definition)
    try:
        json.loads(definition)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{props.where}: the definition is not JSON after substitution: {exc}") from exc
    arguments: dict[str, Any] = {"name": name, "definition": definition, "roleArn": props.text("RoleArn")}
    if "StateMachineType" in props:
        arguments["type"] = props.text("StateMachineType")
    if "LoggingConfiguration" in props:
        # The state machine API's camelCase shape of CloudFormation's LoggingConfiguration.
        with props.nested("LoggingConfiguration") as logging:
            destinations = logging.nested_list("Destinations") if "Destinations" in logging else []
            arguments["loggingConfiguration"] = {
                "level": logging.opt_text("Level") or "OFF",
                "includeExecutionData": logging.flag("IncludeExecutionData"),
                "destinations": [_log_destination(destination) for destination in destinations],
            }
    if "TracingConfiguration" in props:
        with props.nested("TracingConfiguration") as tracing:
            arguments["tracingConfiguration"] = {"enabled": tracing.flag("Enabled")}
    arn: str = ctx.client("stepfunctions").create_state_machine(**arguments)["stateMachineArn"]
    props.ignore("Tags")
    ctx.state_machines[logical_id] = arn
    return Created(ref=arn, attributes={"Arn": arn, "Name": name})


def _log_destination(destination: Props) -> dict[str, Any]:
    with destination, destination.nested("CloudWatchLogsLogGroup") as group:
        return {"cloudWatchLogsLogGroup": {"logGroupArn": group.text("LogGroupArn")}}


def _schedule(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    arguments: dict[str, Any] = {
        "Name": props.opt_text("Name") or ctx.physical_name(logical_id, 64),
        "ScheduleExpression": props.text("ScheduleExpression"),
        "State": props.opt_text("State") or "ENABLED",
        "FlexibleTimeWindow": props.value("FlexibleTimeWindow"),
    }
    arguments |= props.optional(
        props.text, "GroupName", "Description", "ScheduleExpressionTimezone", "KmsKeyArn"
    )
    with props.nested("Target") as target:
        api_target: dict[str, Any] = {"Arn": target.text("Arn"), "RoleArn": target.text("RoleArn")}
        api_target |= target.optional(target.text, "Input") | target.optional(
            target.value, "DeadLetterConfig"
        )
        if "RetryPolicy" in target:
            retry = target.nested("RetryPolicy")
            api_target["RetryPolicy"] = _read(retry, retry.integer, *retry.names())
    arn: str = ctx.client("scheduler").create_schedule(**arguments, Target=api_target)["ScheduleArn"]
    # The emulated scheduler never fires: the local scheduler does, from these specs.
    ctx.schedules.append(
        ScheduleSpec(
            logical_id=logical_id,
            name=arguments["Name"],
            expression=arguments["ScheduleExpression"],
            state=arguments["State"],
            target_arn=api_target["Arn"],
            target_input=api_target.get("Input"),
        )
    )
    return Created(ref=arguments["Name"], attributes={"Arn": arn})


# The characters SSM allows in a parameter name (PutParameter's naming constraints). moto accepts any name,
# but the template relies on SSM's refusal: NestedPrefixesAreRejected must stop a local deployment as on AWS.
_SSM_PARAMETER_NAME = re.compile(r"[a-zA-Z0-9_.\-/]+")


def _parameter(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    name = props.opt_text("Name") or ctx.physical_name(logical_id, 1011)
    if not _SSM_PARAMETER_NAME.fullmatch(name):
        raise ResourceCreationError(
            f"{props.where}: SSM refuses the parameter name {name!r} (letters, digits and _.-/ only)"
        )
    parameter_type, value = props.text("Type"), props.text("Value")
    optional = props.optional(props.text, "Description", "AllowedPattern", "Tier", "DataType")
    ctx.client("ssm").put_parameter(Name=name, Type=parameter_type, Value=value, **optional)
    props.ignore("Tags")
    return Created(ref=name, attributes={"Type": parameter_type, "Value": value})


def _table(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    name = props.opt_text("TableName") or ctx.physical_name(logical_id, 255)
    table = ctx.client("dynamodb").create_table(
        TableName=name,
        AttributeDefinitions=props.value("AttributeDefinitions"),
        KeySchema=props.value("KeySchema"),
        BillingMode=props.opt_text("BillingMode") or "PROVISIONED",
        **props.optional(props.value, "ProvisionedThroughput", "SSESpecification"),
    )["TableDescription"]
    props.ignore("Tags")
    return Created(ref=name, attributes={"Arn": table["TableArn"]})


def _topic(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    sns = ctx.client("sns")
    fifo = props.flag("FifoTopic")
    generated = ctx.physical_name(logical_id, 251) + ".fifo" if fifo else ctx.physical_name(logical_id, 256)
    name = props.opt_text("TopicName") or generated
    # CloudFormation's topic properties are SNS topic attributes.
    attributes = props.optional(
        props.text, "DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication"
    )
    arn: str = sns.create_topic(Name=name, Attributes=attributes)["TopicArn"]
    for subscription in props.nested_list("Subscription") if "Subscription" in props else []:
        with subscription:
            sns.subscribe(TopicArn=arn, **{key: subscription.text(key) for key in ("Protocol", "Endpoint")})
    props.ignore("Tags")
    return Created(ref=arn, attributes={"TopicArn": arn, "TopicName": name})


def _subscription(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    attributes = props.optional(props.text, "FilterPolicyScope", "RawMessageDelivery")
    attributes |= props.optional(props.document, "FilterPolicy", "RedrivePolicy")
    response = ctx.client("sns").subscribe(
        TopicArn=props.text("TopicArn"),
        Protocol=props.text("Protocol"),
        Endpoint=props.text("Endpoint"),
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )
    return Created(ref=response["SubscriptionArn"], attributes={"Arn": response["SubscriptionArn"]})


def _topic_policy(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    policy = props.document("PolicyDocument")
    for topic_arn in props.text_list("Topics"):
        ctx.client("sns").set_topic_attributes(
            TopicArn=topic_arn, AttributeName="Policy", AttributeValue=policy
        )
    return Created(ref=ctx.physical_name(logical_id, 128))


def _key(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    kms = ctx.client("kms")
    arguments = {"Policy": props.document("KeyPolicy")} if "KeyPolicy" in props else {}
    arguments |= props.optional(props.text, "Description", "KeyUsage", "KeySpec")
    metadata = kms.create_key(**arguments, **props.optional(props.flag, "MultiRegion"))["KeyMetadata"]
    if props.flag("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=metadata["KeyId"])
    if not props.flag("Enabled", True):
        kms.disable_key(KeyId=metadata["KeyId"])
    # The waiting period applies only when the stack deletes the key.
    props.ignore("Tags", "PendingWindowInDays")
    return Created(ref=metadata["KeyId"], attributes={"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]})


# Alarm properties the CloudWatch API takes as they are (text); the others are numbers, lists or objects.
_ALARM_TEXT = (
    "AlarmDescription",
    "ComparisonOperator",
    "EvaluateLowSampleCountPercentile",
    "ExtendedStatistic",
    "MetricName",
    "Namespace",
    "Statistic",
    "ThresholdMetricId",
    "TreatMissingData",
    "Unit",
)


def _alarm(ctx: DeployContext, logical_id: str, props: Props) -> Created:
    name = props.opt_text("AlarmName") or ctx.physical_name(logical_id, 255)
    arguments = props.optional(props.text, *_ALARM_TEXT) | props.optional(props.value, "Dimensions")
    arguments |= props.optional(props.integer, "DatapointsToAlarm", "EvaluationPeriods", "Period")
    arguments |= props.optional(props.text_list, "AlarmActions", "InsufficientDataActions", "OKActions")
    arguments |= props.optional(props.number, "Threshold") | props.optional(props.flag, "ActionsEnabled")
    if "Metrics" in props:
        arguments["Metrics"] = [_metric_query(query) for query in props.nested_list("Metrics")]
    ctx.client("cloudwatch").put_metric_alarm(AlarmName=name, **arguments)
    arn = f"arn:{ctx.partition}:cloudwatch:{ctx.region}:{ctx.account_id}:alarm:{name}"
    return Created(ref=name, attributes={"Arn": arn})


def _metric_query(query: Props) -> dict[str, Any]:
    with query:
        api_query = query.optional(query.text, "Id", "Expression", "Label", "AccountId")
        api_query |= query.optional(query.flag, "ReturnData") | query.optional(query.integer, "Period")
        if "MetricStat" in query:
            with query.nested("MetricStat") as stat:
                metric_stat = {"Metric": stat.value("Metric"), "Period": stat.integer("Period")}
                metric_stat |= {"Stat": stat.text("Stat")} | stat.optional(stat.text, "Unit")
            api_query["MetricStat"] = metric_stat
        return api_query


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
