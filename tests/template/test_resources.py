"""The resources of the stack after the SAM transform: every property the issue and the contracts promise."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .support import (
    ACCOUNT,
    EXAMPLE_MAPPING_UUID,
    EXAMPLE_PROJECT_ARN,
    EXAMPLE_PROJECT_VERSION_ARN,
    EXAMPLE_VERSION_NAME,
    REGION,
    STACK_NAME,
    Resolver,
    as_list,
)

pytestmark = pytest.mark.template

Resources = dict[str, dict[str, Any]]

# The first block of the example stack id's GUID: what keeps the deterministic names unique.
STACK_SUFFIX = "1a2b3c4d"
BUCKET_NAME = f"labelbatch-images-{ACCOUNT}-{REGION}-{STACK_SUFFIX}"
QUEUE_NAME = f"labelbatch-{STACK_SUFFIX}-images"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE_NAME}"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK_NAME}-batch-run"
MARKER_NAME = f"/labelbatch/{STACK_NAME}/model-start-marker"

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
}
EXTRA_OUTPUTS = {"ModelReaperFunctionName", "ModelStartMarkerParameterName"}
SUBSTITUTIONS = {
    "ProjectArn",
    "ProjectVersionArn",
    "ProjectVersionName",
    "ImageQueueUrl",
    "EventSourceMappingId",
    "ModelStartMarkerParameterName",
    "MinInferenceUnits",
    "MaxInferenceUnits",
    "PollIntervalSeconds",
    "ModelStartTimeoutMinutes",
    "MaxRunMinutes",
    "ConsumerSettleSeconds",
}
POWERTOOLS_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": {"Ref": "AWS::StackName"},
    "POWERTOOLS_METRICS_NAMESPACE": "LabelBatch",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


def of_type(resources: Resources, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource["Type"] == resource_type
    }


def properties(resources: Resources, logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = resources[logical_id]["Properties"]
    return found


# ---------------------------------------------------------------------------- image bucket


def test_bucket_name_is_unique_lowercase_and_short_enough(resources: Resources, resolve: Resolver) -> None:
    name = resolve(properties(resources, "ImageBucket")["BucketName"])

    assert name == BUCKET_NAME
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name)
    # The longest region name today (ap-southeast-5 and friends) still fits in 63 characters.
    assert len(name.replace(REGION, "ap-southeast-5")) <= 63


def test_bucket_blocks_public_access_and_encrypts_by_default(resources: Resources) -> None:
    bucket = properties(resources, "ImageBucket")

    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_bucket_keeps_versions_for_a_while_and_drops_abandoned_uploads(resources: Resources) -> None:
    bucket = properties(resources, "ImageBucket")

    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_bucket_outlives_the_stack(resources: Resources) -> None:
    assert resources["ImageBucket"]["DeletionPolicy"] == "Retain"
    assert resources["ImageBucket"]["UpdateReplacePolicy"] == "Retain"


def test_every_new_object_under_the_input_prefix_is_announced_on_the_queue(resources: Resources) -> None:
    notification = properties(resources, "ImageBucket")["NotificationConfiguration"]

    # One rule, a prefix filter and no suffix filter (filters are case-sensitive; the function validates).
    assert notification == {
        "QueueConfigurations": [
            {
                "Event": "s3:ObjectCreated:*",
                "Queue": {"Fn::GetAtt": ["ImageQueue", "Arn"]},
                "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": {"Ref": "InputPrefix"}}]}},
            }
        ]
    }
    # S3 checks that it may send to the queue when the configuration is written.
    assert "ImageQueuePolicy" in as_list(resources["ImageBucket"]["DependsOn"])


def test_bucket_policy_denies_requests_without_tls(resources: Resources) -> None:
    policy = properties(resources, "ImageBucketPolicy")

    assert policy["Bucket"] == {"Ref": "ImageBucket"}
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [{"Fn::GetAtt": ["ImageBucket", "Arn"]}, {"Fn::Sub": "${ImageBucket.Arn}/*"}],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


# ---------------------------------------------------------------------------- queues


def function_timeout(resources: Resources) -> int:
    timeout: int = properties(resources, "AnalyzeImageFunction")["Timeout"]
    return timeout


def test_image_queue_is_encrypted_and_keeps_messages_14_days(resources: Resources) -> None:
    queue = properties(resources, "ImageQueue")

    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 1209600


def test_image_queue_visibility_timeout_is_six_function_timeouts(resources: Resources) -> None:
    assert properties(resources, "ImageQueue")["VisibilityTimeout"] == 6 * function_timeout(resources) == 360


def test_poison_messages_go_to_the_dead_letter_queue_after_5_receives(resources: Resources) -> None:
    assert properties(resources, "ImageQueue")["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["ImageDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }


def test_dead_letter_queue_is_encrypted_and_accepts_only_the_image_queue(
    resources: Resources, resolve: Resolver
) -> None:
    dlq = properties(resources, "ImageDeadLetterQueue")

    assert dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] == 1209600
    assert dlq["RedriveAllowPolicy"]["redrivePermission"] == "byQueue"
    # The ARN is spelled out (a reference would be circular): it must be the image queue's.
    assert resolve(dlq["RedriveAllowPolicy"]["sourceQueueArns"]) == [QUEUE_ARN]
    assert resolve({"Fn::GetAtt": ["ImageQueue", "Arn"]}) == QUEUE_ARN


def test_queue_policy_lets_only_this_bucket_send(resources: Resources, resolve: Resolver) -> None:
    policy = properties(resources, "ImageQueuePolicy")
    allow = [
        statement for statement in policy["PolicyDocument"]["Statement"] if statement["Effect"] == "Allow"
    ]

    assert policy["Queues"] == [{"Ref": "ImageQueue"}]
    (statement,) = allow
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == {"Fn::GetAtt": ["ImageQueue", "Arn"]}
    assert set(statement["Condition"]) == {"ArnEquals", "StringEquals"}
    # The bucket ARN is spelled out (a reference would be circular): it must be the image bucket's.
    assert resolve(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == f"arn:aws:s3:::{BUCKET_NAME}"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_queue_policy_denies_requests_without_tls(resources: Resources) -> None:
    deny = [
        statement
        for statement in properties(resources, "ImageQueuePolicy")["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
    ]

    assert deny == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": {"Fn::GetAtt": ["ImageQueue", "Arn"]},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


# ---------------------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("logical_id", "handler", "log_group"),
    [
        ("AnalyzeImageFunction", "analyze_image.app.handler", "AnalyzeImageLogGroup"),
        ("ModelReaperFunction", "model_reaper.app.handler", "ModelReaperLogGroup"),
    ],
)
def test_functions_run_python_313_with_powertools_tracing_and_json_logs(
    resources: Resources, resolve: Resolver, logical_id: str, handler: str, log_group: str
) -> None:
    function = properties(resources, logical_id)

    assert function["Handler"] == handler
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["x86_64"]
    assert function["Timeout"] == 60
    assert function["MemorySize"] == 256
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": log_group}, "LogFormat": "JSON"}
    (layer,) = resolve(function["Layers"])
    # The official public layer, built for this runtime and architecture.
    assert re.fullmatch(
        rf"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:\d+", layer
    )
    # Code comes from functions/, the root both handlers import from.
    assert function["Code"]["S3Key"] == "functions.zip"


def test_every_log_group_has_a_retention(resources: Resources) -> None:
    log_groups = of_type(resources, "AWS::Logs::LogGroup")

    assert set(log_groups) == {"AnalyzeImageLogGroup", "BatchRunLogGroup", "ModelReaperLogGroup"}
    assert {
        logical_id: group["Properties"].get("RetentionInDays") for logical_id, group in log_groups.items()
    } == {
        "AnalyzeImageLogGroup": 30,
        "BatchRunLogGroup": 30,
        "ModelReaperLogGroup": 30,
    }


def test_analyze_image_environment_matches_the_contract(resources: Resources) -> None:
    assert properties(resources, "AnalyzeImageFunction")["Environment"]["Variables"] == {
        **POWERTOOLS_ENVIRONMENT,
        "IMAGE_BUCKET": {"Ref": "ImageBucket"},
        "INPUT_PREFIX": {"Ref": "InputPrefix"},
        "RESULTS_PREFIX": {"Ref": "ResultsPrefix"},
        "PROJECT_VERSION_ARN": {"Ref": "ProjectVersionArn"},
        "MIN_CONFIDENCE": {"Ref": "MinConfidence"},
        "IMAGE_QUEUE_URL": {"Ref": "ImageQueue"},
        "RETRY_DELAY_SECONDS": {"Ref": "RetryDelaySeconds"},
    }


def test_model_reaper_environment_matches_the_contract(resources: Resources) -> None:
    assert properties(resources, "ModelReaperFunction")["Environment"]["Variables"] == {
        **POWERTOOLS_ENVIRONMENT,
        "PROJECT_ARN": {"Ref": "ProjectArn"},
        "PROJECT_VERSION_ARN": {"Ref": "ProjectVersionArn"},
        "IMAGE_QUEUE_URL": {"Ref": "ImageQueue"},
        "EVENT_SOURCE_MAPPING_ID": {"Ref": "ImageQueueEventSourceMapping"},
        "STATE_MACHINE_ARN": {"Ref": "BatchRunStateMachine"},
        "MODEL_START_MARKER_PARAMETER": {"Ref": "ModelStartMarkerParameter"},
    }


def test_the_reaper_does_not_retry_a_failed_tick_itself(resources: Resources) -> None:
    (config,) = of_type(resources, "AWS::Lambda::EventInvokeConfig").values()

    assert config["Properties"]["FunctionName"] == {"Ref": "ModelReaperFunction"}
    assert config["Properties"]["MaximumRetryAttempts"] == 0


# ---------------------------------------------------------------------------- consumer mapping


def test_the_consumer_is_one_explicit_mapping_that_starts_disabled(resources: Resources) -> None:
    mappings = of_type(resources, "AWS::Lambda::EventSourceMapping")

    # The only mapping: no SAM event adds a second, always-on consumer.
    assert list(mappings) == ["ImageQueueEventSourceMapping"]
    assert mappings["ImageQueueEventSourceMapping"]["Properties"] == {
        "Enabled": False,
        "EventSourceArn": {"Fn::GetAtt": ["ImageQueue", "Arn"]},
        "FunctionName": {"Ref": "AnalyzeImageFunction"},
        "BatchSize": 2,
        "MaximumBatchingWindowInSeconds": 0,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "ScalingConfig": {"MaximumConcurrency": {"Ref": "ConsumerMaxConcurrency"}},
    }


# ---------------------------------------------------------------------------- model-start marker


def test_marker_starts_as_none(resources: Resources, resolve: Resolver) -> None:
    marker = properties(resources, "ModelStartMarkerParameter")

    assert marker["Type"] == "String"
    assert marker["Value"] == "none"
    assert resolve({"Ref": "ModelStartMarkerParameter"}) == MARKER_NAME


# ---------------------------------------------------------------------------- batch-run state machine


def test_state_machine_is_a_standard_workflow_from_the_definition_file(
    sam_template: dict[str, Any], resources: Resources, resolve: Resolver
) -> None:
    state_machine = properties(resources, "BatchRunStateMachine")

    assert sam_template["Resources"]["BatchRunStateMachine"]["Properties"]["DefinitionUri"] == (
        "statemachine/batch_run.asl.json"
    )
    assert state_machine["StateMachineType"] == "STANDARD"
    assert state_machine["DefinitionS3Location"]["Key"] == "batch_run.asl.json"
    assert resolve({"Ref": "BatchRunStateMachine"}) == STATE_MACHINE_ARN


def test_state_machine_logs_every_event_and_traces(resources: Resources) -> None:
    state_machine = properties(resources, "BatchRunStateMachine")

    assert state_machine["LoggingConfiguration"] == {
        "Level": "ALL",
        "IncludeExecutionData": True,
        "Destinations": [
            {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": ["BatchRunLogGroup", "Arn"]}}}
        ],
    }
    assert state_machine["TracingConfiguration"] == {"Enabled": True}


def test_substitutions_are_exactly_the_contract_names(resources: Resources) -> None:
    assert set(properties(resources, "BatchRunStateMachine")["DefinitionSubstitutions"]) == SUBSTITUTIONS


def test_every_placeholder_of_the_definition_has_a_substitution_and_every_substitution_is_used(
    resources: Resources, state_machine_definition_path: Path
) -> None:
    definition = state_machine_definition_path.read_text(encoding="utf-8")
    json.loads(definition)

    placeholders = set(re.findall(r"\$\{([^}]+)\}", definition))
    assert placeholders == set(properties(resources, "BatchRunStateMachine")["DefinitionSubstitutions"])


def test_substitutions_resolve_to_what_the_definition_expects(
    resources: Resources, resolve: Resolver
) -> None:
    substitutions = properties(resources, "BatchRunStateMachine")["DefinitionSubstitutions"]

    assert resolve(substitutions) == {
        "ProjectArn": EXAMPLE_PROJECT_ARN,
        "ProjectVersionArn": EXAMPLE_PROJECT_VERSION_ARN,
        "ProjectVersionName": EXAMPLE_VERSION_NAME,
        "ImageQueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{QUEUE_NAME}",
        "EventSourceMappingId": EXAMPLE_MAPPING_UUID,
        "ModelStartMarkerParameterName": MARKER_NAME,
        "MinInferenceUnits": "1",
        # Unset: the definition starts the model without auto-scaling.
        "MaxInferenceUnits": "",
        "PollIntervalSeconds": "60",
        "ModelStartTimeoutMinutes": "30",
        "MaxRunMinutes": "720",
        "ConsumerSettleSeconds": "60",
    }


def test_consumer_settle_time_is_the_function_timeout(resources: Resources) -> None:
    substitutions = properties(resources, "BatchRunStateMachine")["DefinitionSubstitutions"]

    assert substitutions["ConsumerSettleSeconds"] == str(function_timeout(resources))


def schedules(resources: Resources) -> dict[str, dict[str, Any]]:
    return {
        str(schedule["Properties"]["Target"]["Arn"]): schedule["Properties"]
        for schedule in of_type(resources, "AWS::Scheduler::Schedule").values()
    }


def test_batch_run_schedule_follows_the_schedule_parameters(resources: Resources) -> None:
    schedule = schedules(resources)[str({"Ref": "BatchRunStateMachine"})]

    assert schedule["ScheduleExpression"] == {"Ref": "ScheduleExpression"}
    assert schedule["State"] == {"Ref": "ScheduleState"}
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    # OmitName: CloudFormation names the schedule, so two stacks never collide.
    assert "Name" not in schedule
    assert schedule["Target"]["Input"] == "{}"
    assert schedule["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 600}


def test_reaper_runs_every_15_minutes_under_the_same_switch(resources: Resources) -> None:
    schedule = schedules(resources)[str({"Fn::GetAtt": ["ModelReaperFunction", "Arn"]})]

    assert schedule["ScheduleExpression"] == "rate(15 minutes)"
    assert schedule["State"] == {"Ref": "ScheduleState"}
    assert "Name" not in schedule
    assert schedule["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 0}


def test_there_are_exactly_the_two_schedules(resources: Resources) -> None:
    assert len(of_type(resources, "AWS::Scheduler::Schedule")) == 2


# ---------------------------------------------------------------------------- alarms


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(resources: Resources) -> None:
    topic = properties(resources, "AlarmTopic")
    key = properties(resources, "AlarmTopicKey")

    # Not alias/aws/sns: CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key.
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        statement
        for statement in key["KeyPolicy"]["Statement"]
        if statement.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch == [
        {
            "Sid": "AllowCloudWatchAlarmsToPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]


def test_key_policy_grants_nothing_else_but_the_account_default(resources: Resources) -> None:
    statements = properties(resources, "AlarmTopicKey")["KeyPolicy"]["Statement"]

    # The default key policy statement: the account controls the key through IAM policies, nobody else.
    others = [statement for statement in statements if statement["Sid"] != "AllowCloudWatchAlarmsToPublish"]
    assert others == [
        {
            "Sid": "EnableIamPolicies",
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]


def test_topic_policy_lets_cloudwatch_of_this_account_publish(resources: Resources) -> None:
    policy = properties(resources, "AlarmTopicPolicy")

    assert policy["Topics"] == [{"Ref": "AlarmTopic"}]
    assert policy["PolicyDocument"]["Statement"] == [
        {
            "Sid": "AllowCloudWatchAlarmsToPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": {"Ref": "AlarmTopic"},
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]


def test_email_subscription_exists_only_with_an_address(
    transformed_template: dict[str, Any], resources: Resources
) -> None:
    subscription = resources["AlarmEmailSubscription"]

    assert subscription["Condition"] == "HasAlarmEmail"
    assert transformed_template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


@pytest.mark.parametrize(
    ("logical_id", "namespace", "metric", "dimensions"),
    [
        (
            "DeadLetterQueueNotEmptyAlarm",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["ImageDeadLetterQueue", "QueueName"]}}],
        ),
        (
            "AnalyzeImageErrorsAlarm",
            "AWS/Lambda",
            "Errors",
            [{"Name": "FunctionName", "Value": {"Ref": "AnalyzeImageFunction"}}],
        ),
        (
            "ModelReaperErrorsAlarm",
            "AWS/Lambda",
            "Errors",
            [{"Name": "FunctionName", "Value": {"Ref": "ModelReaperFunction"}}],
        ),
        # Powertools Metrics adds the service dimension (POWERTOOLS_SERVICE_NAME = the stack name).
        (
            "ModelReapedAlarm",
            "LabelBatch",
            "ModelsReaped",
            [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}],
        ),
    ],
)
def test_single_metric_alarms_fire_on_the_first_occurrence(
    resources: Resources, logical_id: str, namespace: str, metric: str, dimensions: list[dict[str, Any]]
) -> None:
    alarm = properties(resources, logical_id)

    assert (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"]) == (namespace, metric, dimensions)
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["EvaluationPeriods"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_batch_run_alarm_adds_failed_timed_out_and_aborted_runs(resources: Resources) -> None:
    alarm = properties(resources, "BatchRunFailedAlarm")
    queries = {query["Id"]: query for query in alarm["Metrics"]}

    watched = {
        query["MetricStat"]["Metric"]["MetricName"]: query["MetricStat"]["Metric"]["Dimensions"]
        for query in queries.values()
        if "MetricStat" in query
    }
    state_machine = [{"Name": "StateMachineArn", "Value": {"Ref": "BatchRunStateMachine"}}]
    assert watched == {
        "ExecutionsFailed": state_machine,
        "ExecutionsTimedOut": state_machine,
        "ExecutionsAborted": state_machine,
    }
    (returned,) = [query for query in queries.values() if query["ReturnData"]]
    assert returned["Expression"] == "FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)"
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_every_alarm_notifies_the_topic(resources: Resources) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")

    assert set(alarms) == {
        "DeadLetterQueueNotEmptyAlarm",
        "BatchRunFailedAlarm",
        "AnalyzeImageErrorsAlarm",
        "ModelReapedAlarm",
        "ModelReaperErrorsAlarm",
    }
    assert all(alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for alarm in alarms.values())


# ---------------------------------------------------------------------------- outputs


def test_outputs_are_the_contract_names(transformed_template: dict[str, Any]) -> None:
    assert set(transformed_template["Outputs"]) == CONTRACT_OUTPUTS | EXTRA_OUTPUTS


def test_outputs_point_at_the_right_resources(transformed_template: dict[str, Any]) -> None:
    values = {name: output["Value"] for name, output in transformed_template["Outputs"].items()}

    assert values == {
        "ImageBucketName": {"Ref": "ImageBucket"},
        "InputPrefix": {"Ref": "InputPrefix"},
        "ResultsPrefix": {"Ref": "ResultsPrefix"},
        "ImageQueueUrl": {"Ref": "ImageQueue"},
        "DeadLetterQueueUrl": {"Ref": "ImageDeadLetterQueue"},
        "StateMachineArn": {"Ref": "BatchRunStateMachine"},
        "AnalyzeImageFunctionName": {"Ref": "AnalyzeImageFunction"},
        # Ref of an event source mapping is its UUID, what UpdateEventSourceMapping takes.
        "EventSourceMappingId": {"Ref": "ImageQueueEventSourceMapping"},
        "AlarmTopicArn": {"Ref": "AlarmTopic"},
        "ModelReaperFunctionName": {"Ref": "ModelReaperFunction"},
        "ModelStartMarkerParameterName": {"Ref": "ModelStartMarkerParameter"},
    }
