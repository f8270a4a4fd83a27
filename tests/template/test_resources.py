"""The stack's resources after the SAM transform, evaluated for the example stack: what ties the template to
the functions and the definition, and the promises a user or an operator relies on (encryption, no public
access, TLS only, alarms that reach the topic, the outputs others read). Values the template merely sets are
not repeated here: the template says them once."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from analyze_image.settings import Settings as AnalyzeImageSettings
from analyze_image.settle import MAX_RETRY_DELAY_SECONDS
from model_reaper.reaper import NO_OWNER
from model_reaper.settings import Settings as ModelReaperSettings
from support.template import (
    ACCOUNT,
    EXAMPLE_VERSION_NAME,
    REPO_ROOT,
    Resolver,
    allow_statements,
    as_list,
    example_evaluator,
    of_type,
    plan,
    sdk_tasks,
    substituted_definition,
)

Resources = dict[str, dict[str, Any]]

# The stack outputs the ops CLI, the local stack and the end-to-end tests read (DESIGN.md's contract).
CONTRACT_OUTPUTS = {
    "ImageBucketName",
    "InputPrefix",
    "ResultsPrefix",
    "ImageQueueUrl",
    "DeadLetterQueueUrl",
    "StateMachineArn",
    "AnalyzeImageFunctionName",
    "EventSourceMappingId",
    "AlarmTopicArn",
    "ModelReaperFunctionName",
    "ModelStartMarkerParameterName",
    "RunLockTableName",
}
# Lambda's recommendation for an SQS event source: a visibility timeout of at least six function timeouts.
VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT = 6
# SQS keeps a message 4 days unless told otherwise.
SQS_DEFAULT_RETENTION_SECONDS = 345_600
# ... and accepts messages of up to 256 KiB unless told otherwise.
SQS_DEFAULT_MAXIMUM_MESSAGE_SIZE = 262_144
# Step Functions' quota on a state's input or output (UTF-8 bytes of its JSON).
STATE_PAYLOAD_LIMIT = 262_144
# Longer than any receipt handle SQS hands out (they run to a few hundred characters).
RECEIPT_HANDLE = "AQEB" + "x" * 1020
POWERTOOLS_LAYER_PARAMETER = "/aws/service/powertools/python/{architecture}/{runtime}/{release}"
EVENTS_DIR = REPO_ROOT / "events"


def properties(resources: Resources, logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = resources[logical_id]["Properties"]
    return found


def logical_id_of(resources: Resources, resolve: Resolver, resource_type: str, arn: str) -> str:
    """The resource of a type whose resolved ARN is `arn`."""
    (found,) = [
        logical_id
        for logical_id in of_type(resources, resource_type)
        if resolve({"Fn::GetAtt": [logical_id, "Arn"]}) == arn
    ]
    return found


# ---------------------------------------------------------------------------- encryption, access, TLS


def test_bucket_blocks_public_access_and_encrypts_by_default(resources: Resources) -> None:
    buckets = of_type(resources, "AWS::S3::Bucket")

    assert buckets
    for logical_id, bucket in buckets.items():
        settings = bucket["Properties"]
        assert settings["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        # No ACL can grant access either: the bucket owner owns every object.
        assert settings["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        (rule,) = settings["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}, logical_id


def test_image_queue_is_encrypted(resources: Resources) -> None:
    assert properties(resources, "ImageQueue")["SqsManagedSseEnabled"] is True


def test_dead_letter_queue_is_encrypted_and_accepts_only_the_image_queue(
    resources: Resources, resolve: Resolver
) -> None:
    dead_letter_queue = properties(resources, "ImageDeadLetterQueue")

    assert dead_letter_queue["SqsManagedSseEnabled"] is True
    assert dead_letter_queue["RedriveAllowPolicy"]["redrivePermission"] == "byQueue"
    # The ARN is spelled out (a reference would be circular): it must be the image queue's.
    assert resolve(dead_letter_queue["RedriveAllowPolicy"]["sourceQueueArns"]) == [
        resolve({"Fn::GetAtt": ["ImageQueue", "Arn"]})
    ]
    # And the image queue's redrive policy does send its failures there.
    assert resolve(properties(resources, "ImageQueue")["RedrivePolicy"]["deadLetterTargetArn"]) == resolve(
        {"Fn::GetAtt": ["ImageDeadLetterQueue", "Arn"]}
    )


def resource_policies(resources: Resources) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, document) of every resource policy: bucket, queue and topic policies, and key policies."""
    for logical_id, resource in resources.items():
        if resource["Type"] in {"AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"}:
            yield logical_id, resource["Properties"]["PolicyDocument"]
        elif resource["Type"] == "AWS::KMS::Key":
            yield logical_id, resource["Properties"]["KeyPolicy"]


def test_resource_policies_allow_only_this_account_and_its_services(
    resources: Resources, resolve: Resolver
) -> None:
    # Given every Allow statement of every resource policy
    statements = [
        (logical_id, resolve(statement))
        for logical_id, document in resource_policies(resources)
        for statement in allow_statements(document)
    ]

    # Then each lets in either this account itself or an AWS service acting for this account, nobody else
    assert statements
    for logical_id, statement in statements:
        principal = statement["Principal"]
        if "AWS" in principal:
            assert principal == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, logical_id
        else:
            assert set(principal) == {"Service"}, logical_id
            assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT, logical_id


def deny_without_tls(document: Mapping[str, Any]) -> list[Any]:
    """The resources a policy denies every request without TLS on."""
    return [
        statement["Resource"]
        for statement in document["Statement"]
        if statement["Effect"] == "Deny"
        and statement["Principal"] == "*"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        and as_list(statement["Action"])[0].endswith(":*")
    ]


def test_bucket_policy_denies_requests_without_tls(resources: Resources, resolve: Resolver) -> None:
    for logical_id in of_type(resources, "AWS::S3::Bucket"):
        (policy,) = [
            policy["Properties"]
            for policy in of_type(resources, "AWS::S3::BucketPolicy").values()
            if resolve(policy["Properties"]["Bucket"]) == resolve({"Ref": logical_id})
        ]
        bucket_arn = resolve({"Fn::GetAtt": [logical_id, "Arn"]})

        (denied,) = deny_without_tls(policy["PolicyDocument"])
        # The bucket itself and every object in it.
        assert sorted(resolve(denied)) == [bucket_arn, f"{bucket_arn}/*"]


@pytest.mark.parametrize("queue", ["ImageQueue", "ImageDeadLetterQueue"])
def test_queue_policies_deny_requests_without_tls(
    resources: Resources, resolve: Resolver, queue: str
) -> None:
    queue_url, queue_arn = resolve({"Ref": queue}), resolve({"Fn::GetAtt": [queue, "Arn"]})

    denied = [
        resolve(resource)
        for policy in of_type(resources, "AWS::SQS::QueuePolicy").values()
        if queue_url in resolve(policy["Properties"]["Queues"])
        for resource in deny_without_tls(policy["Properties"]["PolicyDocument"])
    ]

    assert denied == [queue_arn]


def test_alarm_topic_is_encrypted_with_a_rotated_key_cloudwatch_may_use(resources: Resources) -> None:
    for topic in of_type(resources, "AWS::SNS::Topic").values():
        # Not alias/aws/sns: CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key.
        (key_id,) = topic["Properties"]["KmsMasterKeyId"].values()
        key = properties(resources, key_id)
        assert key["EnableKeyRotation"] is True
        cloudwatch = [
            statement
            for statement in key["KeyPolicy"]["Statement"]
            if statement.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
        ]
        assert [sorted(as_list(statement["Action"])) for statement in cloudwatch] == [
            ["kms:Decrypt", "kms:GenerateDataKey"]
        ]


def test_bucket_outlives_the_stack(resources: Resources) -> None:
    # Users' images and results are not deleted with the stack, nor when an update replaces the bucket.
    assert resources["ImageBucket"]["DeletionPolicy"] == "Retain"
    assert resources["ImageBucket"]["UpdateReplacePolicy"] == "Retain"


# ---------------------------------------------------------------------------- bucket, queues, consumer


def test_every_new_object_under_the_input_prefix_is_announced_on_the_image_queue(
    resources: Resources, resolve: Resolver
) -> None:
    notification = resolve(properties(resources, "ImageBucket")["NotificationConfiguration"])

    # One rule, a prefix filter and no suffix filter (filters are case-sensitive; the function validates).
    assert notification == {
        "QueueConfigurations": [
            {
                "Event": "s3:ObjectCreated:*",
                "Queue": resolve({"Fn::GetAtt": ["ImageQueue", "Arn"]}),
                "Filter": {
                    "S3Key": {"Rules": [{"Name": "prefix", "Value": resolve({"Ref": "InputPrefix"})}]}
                },
            }
        ]
    }
    # S3 checks that it may send to the queue when the configuration is written.
    assert "ImageQueuePolicy" in as_list(resources["ImageBucket"]["DependsOn"])


def test_only_this_bucket_may_send_to_the_image_queue(resources: Resources, resolve: Resolver) -> None:
    policy = properties(resources, "ImageQueuePolicy")
    (statement,) = allow_statements(policy["PolicyDocument"])

    assert resolve(policy["Queues"]) == [resolve({"Ref": "ImageQueue"})]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert resolve(statement["Resource"]) == resolve({"Fn::GetAtt": ["ImageQueue", "Arn"]})
    # The bucket ARN is spelled out (a reference would be circular): it must be the image bucket's.
    assert resolve(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == resolve(
        {"Fn::GetAtt": ["ImageBucket", "Arn"]}
    )


def test_image_queue_visibility_covers_six_function_timeouts_and_the_longest_retry_delay(
    resources: Resources, resolve: Resolver
) -> None:
    # Given the function the image queue's only event source mapping invokes
    (mapping,) = of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    assert resolve(mapping["Properties"]["EventSourceArn"]) == resolve({"Fn::GetAtt": ["ImageQueue", "Arn"]})
    function = next(
        logical_id
        for logical_id in of_type(resources, "AWS::Lambda::Function")
        if resolve({"Ref": logical_id}) == resolve(mapping["Properties"]["FunctionName"])
    )
    visibility = int(properties(resources, "ImageQueue")["VisibilityTimeout"])

    # Then a message is not received twice while an invocation may still work on it, and a retried image waits
    # at most its own delay, never a whole visibility timeout
    assert visibility >= VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT * int(
        properties(resources, function)["Timeout"]
    )
    assert visibility > MAX_RETRY_DELAY_SECONDS


def test_the_dead_letter_queue_keeps_messages_longer_than_the_image_queue(
    resources: Resources, resolve: Resolver
) -> None:
    # Given the queue the image queue's redrive policy moves failures to
    target = resolve(properties(resources, "ImageQueue")["RedrivePolicy"]["deadLetterTargetArn"])
    dead_letter_queue = logical_id_of(resources, resolve, "AWS::SQS::Queue", target)

    def retention(queue: str) -> int:
        return int(properties(resources, queue).get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION_SECONDS))

    # Then it keeps a message strictly longer than the image queue does: a standard queue keeps the message's
    # first enqueue time when it moves, so with equal periods an image that waited long expires soon after
    assert retention(dead_letter_queue) > retention("ImageQueue")


def test_a_peek_at_the_image_queue_fits_in_a_state_of_the_batch_run(
    resources: Resources, resolve: Resolver, state_machine_definition_path: Path
) -> None:
    # Given the most messages the batch run's peek at the image queue receives at once
    definition = json.loads(state_machine_definition_path.read_text(encoding="utf-8"))
    substitutions = properties(resources, "BatchRunStateMachine")["DefinitionSubstitutions"]
    peeks = [
        state["Parameters"]["MaxNumberOfMessages"]
        for _, state in sdk_tasks(definition["States"])
        if state["Resource"].endswith(":sqs:receiveMessage")
        and resolve({"Fn::Sub": [state["Parameters"]["QueueUrl"], substitutions]})
        == resolve({"Ref": "ImageQueue"})
    ]
    assert peeks
    messages = max(peeks)
    # And messages as large as the image queue accepts, made of S3 notifications (JSON text, as S3 sends)
    size = int(
        properties(resources, "ImageQueue").get("MaximumMessageSize", SQS_DEFAULT_MAXIMUM_MESSAGE_SIZE)
    )
    notification = json.loads((EVENTS_DIR / "sqs_object_created_encoded_key.json").read_text())["Records"][0]
    body = (notification["body"] * (size // len(notification["body"]) + 1))[:size]

    # When ReceiveMessage answers with that many of them
    answer = {
        "Messages": [
            {
                "MessageId": notification["messageId"],
                "ReceiptHandle": RECEIPT_HANDLE,
                "MD5OfBody": notification["md5OfBody"],
                "Body": body,
            }
        ]
        * messages
    }

    # Then the answer, as the state's JSON, stays below Step Functions' payload limit
    assert len(json.dumps(answer, ensure_ascii=False).encode()) < STATE_PAYLOAD_LIMIT


def test_the_consumer_is_one_mapping_that_starts_disabled_and_reports_failed_records(
    resources: Resources, resolve: Resolver
) -> None:
    mappings = of_type(resources, "AWS::Lambda::EventSourceMapping")

    # The only mapping: no SAM event adds a second, always-on consumer.
    assert list(mappings) == ["ImageQueueEventSourceMapping"]
    mapping = resolve(mappings["ImageQueueEventSourceMapping"]["Properties"])
    assert mapping["EventSourceArn"] == resolve({"Fn::GetAtt": ["ImageQueue", "Arn"]})
    assert mapping["FunctionName"] == resolve({"Ref": "AnalyzeImageFunction"})
    # Off until a batch run has a RUNNING model.
    assert mapping["Enabled"] is False
    # Without it Lambda ignores the batchItemFailures the function returns, and retries whole batches.
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


# ---------------------------------------------------------------------------- functions


def functions(resources: Resources) -> dict[str, Mapping[str, Any]]:
    found = of_type(resources, "AWS::Lambda::Function")
    assert set(found) == {"AnalyzeImageFunction", "ModelReaperFunction"}
    return found


def test_every_handler_is_a_function_of_the_code_directory(
    resources: Resources, sam_template: dict[str, Any]
) -> None:
    code_dir = REPO_ROOT / sam_template["Globals"]["Function"]["CodeUri"]

    for logical_id, function in functions(resources).items():
        module, _, name = function["Properties"]["Handler"].rpartition(".")
        source = code_dir / (module.replace(".", "/") + ".py")
        tree = ast.parse(source.read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert name in defined, logical_id


class _ReadRecorder(dict[str, str]):
    """An environment that records which variables were read."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


@pytest.mark.parametrize(
    ("function", "settings"),
    [("AnalyzeImageFunction", AnalyzeImageSettings), ("ModelReaperFunction", ModelReaperSettings)],
)
def test_each_function_reads_exactly_the_environment_the_template_gives_it(
    resources: Resources, resolve: Resolver, function: str, settings: Any
) -> None:
    # Given the environment the template gives the function in the example stack
    environment = _ReadRecorder(resolve(properties(resources, function)["Environment"]["Variables"]))

    # When the function parses its settings from it
    settings.from_env(environment)

    # Then it accepts them, and every variable the template sets is read (Powertools reads its own)
    unread = {
        name for name in environment if name not in environment.read and not name.startswith("POWERTOOLS_")
    }
    assert unread == set()


def test_the_model_version_name_is_the_one_the_reaper_derives(
    resources: Resources, resolve: Resolver
) -> None:
    # The batch run's DescribeProjectVersions call filters on the version name the template cuts from the ARN.
    substitutions = resolve(properties(resources, "BatchRunStateMachine")["DefinitionSubstitutions"])
    reaper = ModelReaperSettings.from_env(
        resolve(properties(resources, "ModelReaperFunction")["Environment"]["Variables"])
    )

    assert substitutions["ProjectVersionName"] == reaper.version_name == EXAMPLE_VERSION_NAME


def test_the_layer_is_the_powertools_release_the_tests_run(resources: Resources, resolve: Resolver) -> None:
    # Given the aws-lambda-powertools release pinned for development, the one the tests run
    pinned = re.search(
        r"^aws[_-]lambda[_-]powertools==(\S+)$",
        (REPO_ROOT / "requirements-dev.txt").read_text(encoding="utf-8"),
        re.MULTILINE | re.IGNORECASE,
    )
    assert pinned
    release = pinned.group(1)
    assert version("aws_lambda_powertools") == release

    # Then each function's one layer is that release of the public Powertools layer for its runtime and
    # architecture, resolved at deploy time from the SSM public parameter Powertools publishes per release
    for logical_id, function in functions(resources).items():
        settings = function["Properties"]
        (architecture,) = settings["Architectures"]
        parameter = POWERTOOLS_LAYER_PARAMETER.format(
            architecture=architecture, runtime=settings["Runtime"], release=release
        )
        assert resolve(settings["Layers"]) == [f"{{{{resolve:ssm:{parameter}}}}}"], logical_id


def test_every_function_and_the_state_machine_log_to_a_log_group_with_a_retention(
    resources: Resources, resolve: Resolver
) -> None:
    # Given the stack's log groups that keep logs for a limited time
    log_groups = of_type(resources, "AWS::Logs::LogGroup")
    assert all("RetentionInDays" in group["Properties"] for group in log_groups.values())
    names = {resolve({"Ref": logical_id}) for logical_id in log_groups}
    arns = {resolve({"Fn::GetAtt": [logical_id, "Arn"]}) for logical_id in log_groups}

    # Then every function and the state machine write to one of them
    for logical_id, function in functions(resources).items():
        assert resolve(function["Properties"]["LoggingConfig"]["LogGroup"]) in names, logical_id
    for logical_id, state_machine in of_type(resources, "AWS::StepFunctions::StateMachine").items():
        (destination,) = state_machine["Properties"]["LoggingConfiguration"]["Destinations"]
        assert resolve(destination["CloudWatchLogsLogGroup"]["LogGroupArn"]) in arns, logical_id


# ---------------------------------------------------------------------------- batch-run state machine


def test_the_batch_run_is_a_standard_workflow(resources: Resources) -> None:
    # An express workflow stops after five minutes, less than a model takes to start.
    assert properties(resources, "BatchRunStateMachine")["StateMachineType"] == "STANDARD"


def test_every_placeholder_of_the_definition_has_a_substitution_and_every_substitution_is_used(
    resources: Resources, state_machine_definition_path: Path
) -> None:
    definition = state_machine_definition_path.read_text(encoding="utf-8")
    json.loads(definition)

    placeholders = set(re.findall(r"\$\{([^}]+)\}", definition))
    assert placeholders == set(properties(resources, "BatchRunStateMachine")["DefinitionSubstitutions"])


@pytest.mark.parametrize(
    "parameters",
    [{}, {"MaxInferenceUnits": "4", "ConsumerMaxConcurrency": "20", "MinConfidence": "55"}],
    ids=["optional-parameters-empty", "optional-parameters-set"],
)
def test_the_definition_is_json_once_substituted(
    state_machine_definition_path: Path, parameters: dict[str, str]
) -> None:
    planned = plan(parameters)

    definition = substituted_definition(
        planned.template["Resources"], example_evaluator(planned).resolve, state_machine_definition_path
    )

    assert definition["States"]


def test_the_start_marker_starts_as_the_none_the_run_and_the_reaper_write(
    resources: Resources, resolve: Resolver, state_machine_definition_path: Path
) -> None:
    # Given the marker's value when CloudFormation creates it
    marker = properties(resources, "ModelStartMarkerParameter")
    initial = resolve(marker["Value"])
    marker_name = resolve({"Ref": "ModelStartMarkerParameter"})

    # And the literal values the batch run writes to that parameter
    definition = substituted_definition(resources, resolve, state_machine_definition_path)
    written = {
        state["Parameters"]["Value"]
        for _, state in sdk_tasks(definition["States"])
        if state["Resource"].endswith(":ssm:putParameter")
        and state["Parameters"]["Name"] == marker_name
        and "Value" in state["Parameters"]
    }

    # Then it is the one "no run owns the model" value the run clears it to and the reaper reads
    assert written == {initial} == {NO_OWNER}


def test_both_schedules_follow_the_schedule_state() -> None:
    # Given the stack deployed with its schedules paused
    planned = plan({"ScheduleState": "DISABLED"})
    resolve = example_evaluator(planned).resolve
    schedules = {
        resolve(schedule["Properties"]["Target"]["Arn"]): resolve(schedule["Properties"])
        for schedule in of_type(planned.template["Resources"], "AWS::Scheduler::Schedule").values()
    }

    # Then the batch-run schedule (on ScheduleExpression) and the reaper's are both disabled
    batch_run = resolve({"Ref": "BatchRunStateMachine"})
    assert set(schedules) == {batch_run, resolve({"Fn::GetAtt": ["ModelReaperFunction", "Arn"]})}
    assert {schedule["State"] for schedule in schedules.values()} == {"DISABLED"}
    assert schedules[batch_run]["ScheduleExpression"] == resolve({"Ref": "ScheduleExpression"})


# ---------------------------------------------------------------------------- alarms


@pytest.mark.parametrize(("email", "subscribed"), [("", False), ("ops@example.com", True)])
def test_alarm_email_is_subscribed_only_when_given(email: str, subscribed: bool) -> None:
    planned = plan({"AlarmEmail": email})
    resolve = example_evaluator(planned).resolve
    resources = planned.template["Resources"]

    subscriptions = [
        resolve(resources[logical_id]["Properties"])
        for logical_id in of_type(resources, "AWS::SNS::Subscription")
        if logical_id in planned.order
    ]

    expected = {"TopicArn": resolve({"Ref": "AlarmTopic"}), "Protocol": "email", "Endpoint": email}
    assert subscriptions == ([expected] if subscribed else [])


def test_every_alarm_fires_on_the_first_occurrence_and_notifies_the_topic(
    resources: Resources, resolve: Resolver
) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")

    assert alarms
    for logical_id, alarm in alarms.items():
        settings = resolve(alarm["Properties"])
        assert settings["AlarmActions"] == [resolve({"Ref": "AlarmTopic"})], logical_id
        assert (settings["Threshold"], settings["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert settings["EvaluationPeriods"] == 1, logical_id
        assert settings["TreatMissingData"] == "notBreaching", logical_id


def watched(resolve: Resolver, alarm: Mapping[str, Any]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, metric, dimensions) of every metric an alarm reads."""
    settings = resolve(alarm["Properties"])
    metrics = (
        [query["MetricStat"]["Metric"] for query in settings["Metrics"] if "MetricStat" in query]
        if "Metrics" in settings
        else [settings]
    )
    return {
        (
            metric["Namespace"],
            metric["MetricName"],
            tuple((dimension["Name"], dimension["Value"]) for dimension in metric["Dimensions"]),
        )
        for metric in metrics
    }


def emitted_metrics(package: str) -> set[str]:
    """The metric names a function package adds through Powertools (`metrics.add_metric(name="...")`)."""
    names = set()
    for source in (REPO_ROOT / "functions" / package).glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric":
                names |= {
                    keyword.value.value
                    for keyword in node.keywords
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant)
                }
    return names


def test_each_alarm_watches_a_metric_of_this_stack(resources: Resources, resolve: Resolver) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    reaper_environment = resolve(properties(resources, "ModelReaperFunction")["Environment"]["Variables"])
    state_machine = resolve({"Ref": "BatchRunStateMachine"})

    assert {logical_id: watched(resolve, alarm) for logical_id, alarm in alarms.items()} == {
        "DeadLetterQueueNotEmptyAlarm": {
            (
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                (("QueueName", resolve({"Fn::GetAtt": ["ImageDeadLetterQueue", "QueueName"]})),),
            )
        },
        # Failed, timed-out and aborted runs: an aborted run skipped its cleanup.
        "BatchRunFailedAlarm": {
            ("AWS/States", metric, (("StateMachineArn", state_machine),))
            for metric in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted")
        },
        "AnalyzeImageErrorsAlarm": {
            ("AWS/Lambda", "Errors", (("FunctionName", resolve({"Ref": "AnalyzeImageFunction"})),))
        },
        "ModelReaperErrorsAlarm": {
            ("AWS/Lambda", "Errors", (("FunctionName", resolve({"Ref": "ModelReaperFunction"})),))
        },
        # Powertools publishes under POWERTOOLS_METRICS_NAMESPACE with the service dimension set to
        # POWERTOOLS_SERVICE_NAME: the alarm must name the reaper's own.
        "ModelReapedAlarm": {
            (
                reaper_environment["POWERTOOLS_METRICS_NAMESPACE"],
                "ModelsReaped",
                (("service", reaper_environment["POWERTOOLS_SERVICE_NAME"]),),
            )
        },
    }
    assert "ModelsReaped" in emitted_metrics("model_reaper")


def test_the_batch_run_alarm_adds_failed_timed_out_and_aborted_runs(resources: Resources) -> None:
    queries = properties(resources, "BatchRunFailedAlarm")["Metrics"]
    (returned,) = [query for query in queries if query["ReturnData"]]

    summed = set(re.findall(r"FILL\((\w+), 0\)", returned["Expression"]))
    assert summed == {query["Id"] for query in queries if "MetricStat" in query}
    assert re.fullmatch(r"FILL\(\w+, 0\)( \+ FILL\(\w+, 0\))*", returned["Expression"])


# ---------------------------------------------------------------------------- outputs


def test_outputs_are_the_contract_names(transformed_template: dict[str, Any]) -> None:
    assert set(transformed_template["Outputs"]) == CONTRACT_OUTPUTS


def test_outputs_give_what_their_readers_pass_to_aws(
    transformed_template: dict[str, Any], resolve: Resolver
) -> None:
    outputs = {name: resolve(output["Value"]) for name, output in transformed_template["Outputs"].items()}

    assert outputs == {
        "ImageBucketName": resolve({"Ref": "ImageBucket"}),
        "InputPrefix": resolve({"Ref": "InputPrefix"}),
        "ResultsPrefix": resolve({"Ref": "ResultsPrefix"}),
        "ImageQueueUrl": resolve({"Ref": "ImageQueue"}),
        "DeadLetterQueueUrl": resolve({"Ref": "ImageDeadLetterQueue"}),
        "StateMachineArn": resolve({"Ref": "BatchRunStateMachine"}),
        "AnalyzeImageFunctionName": resolve({"Ref": "AnalyzeImageFunction"}),
        # Ref of an event source mapping is its UUID, what UpdateEventSourceMapping takes.
        "EventSourceMappingId": resolve({"Ref": "ImageQueueEventSourceMapping"}),
        "AlarmTopicArn": resolve({"Ref": "AlarmTopic"}),
        "ModelReaperFunctionName": resolve({"Ref": "ModelReaperFunction"}),
        "ModelStartMarkerParameterName": resolve({"Ref": "ModelStartMarkerParameter"}),
        "RunLockTableName": resolve({"Ref": "RunLockTable"}),
    }
