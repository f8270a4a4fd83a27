"""Deploying templates onto a moto server: every resource exists in the emulated services as declared."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from deploy_testing import (
    ACCOUNT_ID,
    EXAMPLE_PARAMETERS,
    FIXTURE_TEMPLATE,
    REAL_DEFINITION,
    REAL_TEMPLATE,
    REGION,
    needs_real_template,
)

from labelbatch.local.deploy import (
    DeployedStack,
    FunctionSpec,
    ResourceCreationError,
    ScheduleSpec,
    UnsupportedPropertyError,
    deploy_stack,
)

FIXTURE_STACK = "fixture"
POWERTOOLS_LAYER = (
    "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:37"
)


@pytest.fixture(scope="module")
def client(aws_session: boto3.Session, moto_endpoint: str) -> Any:
    def make(service: str) -> Any:
        return aws_session.client(service, endpoint_url=moto_endpoint)

    return make


def deploy(
    template: Path,
    stack_name: str,
    session: boto3.Session,
    endpoint: str,
    parameters: dict[str, str] | None = None,
) -> DeployedStack:
    return deploy_stack(
        template,
        stack_name=stack_name,
        parameters=parameters or {},
        session=session,
        endpoint_url=endpoint,
        region=REGION,
        account_id=ACCOUNT_ID,
    )


@pytest.fixture(scope="module")
def fixture_stack(aws_session: boto3.Session, moto_endpoint: str) -> DeployedStack:
    # Given the fixture SAM template deployed with its defaults (dev, no alarm email)
    return deploy(FIXTURE_TEMPLATE, FIXTURE_STACK, aws_session, moto_endpoint)


def test_outputs_are_resolved_and_the_conditional_one_is_absent(fixture_stack: DeployedStack) -> None:
    # When the outputs are read
    outputs = fixture_stack.outputs
    # Then every unconditional output is there, the prod-only one is not
    assert set(outputs) == {
        "BucketName",
        "QueueUrl",
        "QueueArn",
        "DeadLetterQueueUrl",
        "StateMachineArn",
        "MappingId",
        "WorkerName",
        "MarkerName",
        "TopicArn",
    }
    # And unnamed resources got CloudFormation-style names: <stack>-<LogicalId>-<6 letters>, lowercase buckets
    assert re.fullmatch(r"fixture-bucket-[a-z]{6}", outputs["BucketName"])
    assert re.fullmatch(r"fixture-WorkerFunction-[a-z]{6}", outputs["WorkerName"])
    assert re.fullmatch(r"arn:aws:sqs:us-east-1:123456789012:fixture-WorkQueue-[a-z]{6}", outputs["QueueArn"])
    assert outputs["QueueUrl"] == fixture_stack.physical_ids["WorkQueue"]
    assert outputs["StateMachineArn"] == fixture_stack.state_machines["Flow"]
    assert "ProdOnlyQueue" not in fixture_stack.physical_ids
    assert "AlarmEmailSubscription" not in fixture_stack.physical_ids


def test_the_bucket_is_configured_and_notifies_the_queue(fixture_stack: DeployedStack, client: Any) -> None:
    s3, sqs = client("s3"), client("sqs")
    bucket, queue_url = fixture_stack.outputs["BucketName"], fixture_stack.outputs["QueueUrl"]
    # When the bucket's configuration is read back from the emulated S3
    notification = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    # Then it is the template's
    assert [(entry["QueueArn"], entry["Events"], entry["Filter"]) for entry in notification] == [
        (
            fixture_stack.outputs["QueueArn"],
            ["s3:ObjectCreated:*"],
            {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
        )
    ]
    assert encryption[0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    assert s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}
    ]
    assert [(rule["ID"], rule["Filter"], rule["Expiration"]) for rule in lifecycle] == [
        ("ExpireResults", {"Prefix": "done/"}, {"Days": 7})
    ]
    # And the bucket policy, whose statement has a condition moto would misjudge as a denial, is not applied
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=bucket)
    assert fixture_stack.deviations["BucketPolicy"] == (
        "not applied: the emulator would deny object requests on its conditional statements",
    )
    # And an object uploaded under the input prefix is announced on the queue (after S3's test event)
    s3.put_object(Bucket=bucket, Key="incoming/a b.png", Body=b"image")
    bodies = [
        json.loads(message["Body"])
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    ]
    assert [body.get("Event") for body in bodies] == ["s3:TestEvent", None]
    # (URL-encoded as on AWS; moto also encodes the "/", which AWS leaves as it is)
    assert unquote_plus(bodies[1]["Records"][0]["s3"]["object"]["key"]) == "incoming/a b.png"


def test_the_queues_carry_their_attributes_and_redrive_policy(
    fixture_stack: DeployedStack, client: Any
) -> None:
    sqs = client("sqs")
    # When the queue attributes are read back
    queue = sqs.get_queue_attributes(QueueUrl=fixture_stack.outputs["QueueUrl"], AttributeNames=["All"])[
        "Attributes"
    ]
    dead_letters = sqs.get_queue_attributes(
        QueueUrl=fixture_stack.outputs["DeadLetterQueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    # Then the Number parameter, the redrive policy and the queue policy are applied
    assert queue["VisibilityTimeout"] == "45"
    assert queue["SqsManagedSseEnabled"] == "true"
    assert json.loads(queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead_letters["QueueArn"],
        "maxReceiveCount": 3,
    }
    assert json.loads(queue["Policy"])["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    assert dead_letters["MessageRetentionPeriod"] == "1209600"
    # And the attribute moto accepts but does not keep is listed as a deviation, not silently lost
    assert "RedriveAllowPolicy" not in dead_letters
    assert fixture_stack.deviations["DeadLetterQueue"] == (
        "RedriveAllowPolicy is accepted but not kept by the emulator",
    )


def test_the_function_is_described_for_the_local_runtime(fixture_stack: DeployedStack, client: Any) -> None:
    queue_url, bucket = fixture_stack.outputs["QueueUrl"], fixture_stack.outputs["BucketName"]
    # When the function spec is read
    # Then it holds the evaluated environment (Sub, Select, Join, Split, If, NoValue removed) and SAM globals
    assert fixture_stack.functions == {
        "WorkerFunction": FunctionSpec(
            name=fixture_stack.outputs["WorkerName"],
            handler="worker.app.handler",
            code_dir=FIXTURE_TEMPLATE.parent / "functions",
            environment={
                "QUEUE_URL": queue_url,
                "RESULTS_LOCATION": f"s3://{bucket}/done/",
                "LITERAL": "${NotAVariable} in us-east-1",
                "FIRST_COLOUR": "red",
                "ALL_COLOURS": "red+green+blue",
                "VERSION_NAME": "demo.2024-01-01T00.00.00",
                "DOTTED": "demo.2024-01-01T00.00.00",
                "MODE": "quiet",
            },
            timeout=30,
            memory=128,
        )
    }
    # And the emulated Lambda has the function with the same settings and its code package
    configuration = client("lambda").get_function(FunctionName=fixture_stack.outputs["WorkerName"])[
        "Configuration"
    ]
    assert (configuration["Runtime"], configuration["Handler"], configuration["Timeout"]) == (
        "python3.13",
        "worker.app.handler",
        30,
    )
    assert configuration["Environment"]["Variables"] == fixture_stack.functions["WorkerFunction"].environment
    assert configuration["TracingConfig"] == {"Mode": "PassThrough"}


def test_the_event_source_mapping_is_created_disabled_as_declared(
    fixture_stack: DeployedStack, client: Any
) -> None:
    spec = fixture_stack.event_source_mappings["WorkerMapping"]
    # When the mapping is read back from the emulated Lambda
    mapping = client("lambda").get_event_source_mapping(UUID=spec.uuid)
    # Then it is disabled with the template's batching, and the spec points at the same queue and function
    assert mapping["State"] == "Disabled"
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (5, 2)
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 3}
    assert mapping["EventSourceArn"] == fixture_stack.outputs["QueueArn"]
    assert spec.uuid == fixture_stack.outputs["MappingId"]
    assert (spec.function_logical_id, spec.function_name) == (
        "WorkerFunction",
        fixture_stack.outputs["WorkerName"],
    )
    assert (spec.queue_arn, spec.queue_url) == (
        fixture_stack.outputs["QueueArn"],
        fixture_stack.outputs["QueueUrl"],
    )
    assert (spec.batch_size, spec.batching_window, spec.maximum_concurrency) == (5, 2, 3)
    assert spec.function_response_types == ("ReportBatchItemFailures",)


def test_the_state_machine_gets_the_definition_file_with_substitutions(
    fixture_stack: DeployedStack, client: Any
) -> None:
    arn = fixture_stack.state_machines["Flow"]
    # When the state machine is described
    described = client("stepfunctions").describe_state_machine(stateMachineArn=arn)
    # Then its definition is the file with every substitution applied
    expected = (FIXTURE_TEMPLATE.parent / "statemachine" / "flow.asl.json").read_text(encoding="utf-8")
    for name, value in {
        "QueueUrl": fixture_stack.outputs["QueueUrl"],
        "Stage": "dev",
        "WorkerArn": f"arn:aws:lambda:us-east-1:123456789012:function:{fixture_stack.outputs['WorkerName']}",
        "MappingId": fixture_stack.outputs["MappingId"],
    }.items():
        expected = expected.replace("${" + name + "}", value)
    assert described["definition"] == expected
    assert "${QueueUrl}" not in described["definition"]
    assert described["roleArn"].startswith("arn:aws:iam::123456789012:role/fixture-FlowRole-")
    assert described["loggingConfiguration"]["level"] == "ERROR"


def test_schedules_are_created_and_returned_for_the_local_scheduler(
    fixture_stack: DeployedStack, client: Any
) -> None:
    scheduler = client("scheduler")
    # When the schedules are read
    by_id = {schedule.logical_id: schedule for schedule in fixture_stack.schedules}
    # Then both SAM ScheduleV2 events are there with their state, target and input
    assert by_id["WorkerFunctionTick"] == ScheduleSpec(
        logical_id="WorkerFunctionTick",
        name="WorkerFunctionTick",
        expression="rate(15 minutes)",
        state="DISABLED",
        target_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{fixture_stack.outputs['WorkerName']}",
        target_input=None,
    )
    hourly = by_id["FlowHourly"]
    assert (hourly.expression, hourly.state, hourly.target_arn, hourly.target_input) == (
        "rate(1 hour)",
        "ENABLED",
        fixture_stack.outputs["StateMachineArn"],
        '{"source": "schedule"}',
    )
    assert re.fullmatch(r"fixture-FlowHourly-[a-z]{6}", hourly.name)
    # And the emulated scheduler holds the same schedules
    assert (
        scheduler.get_schedule(Name=hourly.name)["Target"]["Arn"] == fixture_stack.outputs["StateMachineArn"]
    )
    assert scheduler.get_schedule(Name="WorkerFunctionTick")["State"] == "DISABLED"


def test_parameter_topic_key_log_groups_and_alarms_exist(fixture_stack: DeployedStack, client: Any) -> None:
    ssm, sns, kms, logs, cloudwatch = (client(name) for name in ("ssm", "sns", "kms", "logs", "cloudwatch"))
    key_id = fixture_stack.physical_ids["TopicKey"]
    # When the remaining resources are read back
    parameter = ssm.get_parameter(Name=fixture_stack.outputs["MarkerName"])["Parameter"]
    topic = sns.get_topic_attributes(TopicArn=fixture_stack.outputs["TopicArn"])["Attributes"]
    retention = {
        group["logGroupName"]: group.get("retentionInDays")
        for group in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/fixture-")["logGroups"]
    }
    alarms = {alarm["AlarmName"]: alarm for alarm in cloudwatch.describe_alarms()["MetricAlarms"]}
    # Then they are as declared
    assert (parameter["Type"], parameter["Value"]) == ("String", "none")
    assert topic["KmsMasterKeyId"] == key_id
    assert json.loads(topic["Policy"])["Statement"][0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sns.list_subscriptions_by_topic(TopicArn=fixture_stack.outputs["TopicArn"])["Subscriptions"] == []
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    assert retention == {"/aws/lambda/fixture-worker": 7}
    dead_letters_alarm = alarms[fixture_stack.physical_ids["DeadLettersAlarm"]]
    assert dead_letters_alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": fixture_stack.outputs["DeadLetterQueueUrl"].rsplit("/", 1)[1]}
    ]
    assert dead_letters_alarm["AlarmActions"] == [fixture_stack.outputs["TopicArn"]]
    assert dead_letters_alarm["Threshold"] == 1.0
    failures_alarm = alarms[fixture_stack.physical_ids["FlowFailuresAlarm"]]
    assert [query["Id"] for query in failures_alarm["Metrics"]] == ["failed", "failures"]
    assert failures_alarm["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "StateMachineArn", "Value": fixture_stack.outputs["StateMachineArn"]}
    ]


def test_what_differs_from_aws_is_listed(fixture_stack: DeployedStack) -> None:
    # When the deviations are read
    deviations = fixture_stack.deviations
    # Then the layer, the dropped logging setting, the unknown managed policy, the unversioned SAM policies,
    # the unapplied bucket policy, and the dropped queue attribute are named
    assert deviations["WorkerFunction"] == (
        f"layer {POWERTOOLS_LAYER} is not attached: handlers run with the local environment's packages",
        "LoggingConfig is accepted but not kept by the emulator",
    )
    assert deviations["WorkerFunctionRole"] == (
        "policy WorkerFunctionRolePolicy0 has no Version; given 2012-10-17 for the emulator",
        "managed policy arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole is unknown to the "
        "emulator: recorded, not attached",
    )
    assert deviations["FlowHourlyRole"] == (
        "policy FlowHourlyStartExecutionPolicy has no Version; given 2012-10-17 for the emulator",
    )
    assert set(deviations) == {
        "BucketPolicy",
        "DeadLetterQueue",
        "WorkerFunction",
        "WorkerFunctionRole",
        "WorkerFunctionTickRole",
        "FlowHourlyRole",
    }


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (
            "  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      Colour: blue\n",
            "AWS::SQS::Queue Queue: the local deployer does not support Colour",
        ),
        # The API takes it, but the local consumer would not apply it: named too.
        (
            "  Mapping:\n    Type: AWS::Lambda::EventSourceMapping\n    Properties:\n"
            "      EventSourceArn: arn:aws:sqs:us-east-1:123456789012:q\n      FunctionName: f\n"
            "      FilterCriteria: {Filters: [{Pattern: '{}'}]}\n",
            "AWS::Lambda::EventSourceMapping Mapping: the local deployer does not support FilterCriteria",
        ),
    ],
    ids=["unknown-to-the-api", "not-played-locally"],
)
def test_an_unsupported_property_is_named(
    resource: str, message: str, tmp_path: Path, aws_session: boto3.Session, moto_endpoint: str
) -> None:
    # Given a resource with a property the deployer does not apply
    template = tmp_path / "template.yaml"
    template.write_text(f"Resources:\n{resource}", encoding="utf-8")
    # When it is deployed
    # Then the property is named rather than dropped
    with pytest.raises(UnsupportedPropertyError, match=message):
        deploy(template, "unsupported", aws_session, moto_endpoint)


def test_a_service_refusal_names_the_resource(
    tmp_path: Path, aws_session: boto3.Session, moto_endpoint: str
) -> None:
    # Given a bucket name S3 rejects (too short)
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: b1\n",
        encoding="utf-8",
    )
    # When it is deployed
    # Then the error names the resource and carries the service's message
    with pytest.raises(ResourceCreationError, match=r"AWS::S3::Bucket Bucket: .*InvalidBucketName"):
        deploy(template, "refused", aws_session, moto_endpoint)


def test_a_parameter_name_ssm_refuses_stops_the_deployment(
    tmp_path: Path, aws_session: boto3.Session, moto_endpoint: str, client: Any
) -> None:
    # Given an SSM parameter whose name has spaces, which SSM refuses (moto would accept it)
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n"
        "  Guard:\n"
        "    Type: AWS::SSM::Parameter\n"
        "    Properties:\n"
        "      Name: Prefixes must not nest\n"
        "      Type: String\n"
        "      Value: rejected\n",
        encoding="utf-8",
    )
    # When it is deployed
    # Then the deployment stops at that resource, with the name as the reason
    with pytest.raises(
        ResourceCreationError,
        match=r"AWS::SSM::Parameter Guard: SSM refuses the parameter name 'Prefixes must not nest'",
    ):
        deploy(template, "refused-parameter", aws_session, moto_endpoint)
    parameters = client("ssm").describe_parameters()["Parameters"]
    assert "Prefixes must not nest" not in {parameter["Name"] for parameter in parameters}


@needs_real_template
def test_the_real_template_deploys_onto_moto(
    aws_session: boto3.Session, moto_endpoint: str, client: Any
) -> None:
    # Given the project's template with the demo model's ARNs
    # When it is deployed
    stack = deploy(REAL_TEMPLATE, "labelbatch", aws_session, moto_endpoint, EXAMPLE_PARAMETERS)
    outputs = stack.outputs
    s3, sqs, lambda_client = client("s3"), client("sqs"), client("lambda")
    # Then the contract's outputs exist
    assert {
        "ImageBucketName",
        "InputPrefix",
        "ResultsPrefix",
        "ImageQueueUrl",
        "DeadLetterQueueUrl",
        "StateMachineArn",
        "AnalyzeImageFunctionName",
        "EventSourceMappingId",
        "AlarmTopicArn",
    } <= set(outputs)
    # And the bucket notifies the image queue of objects under the input prefix
    image_queue = sqs.get_queue_attributes(QueueUrl=outputs["ImageQueueUrl"], AttributeNames=["All"])[
        "Attributes"
    ]
    notification = s3.get_bucket_notification_configuration(Bucket=outputs["ImageBucketName"])[
        "QueueConfigurations"
    ]
    assert [(entry["QueueArn"], entry["Filter"]["Key"]["FilterRules"]) for entry in notification] == [
        (image_queue["QueueArn"], [{"Name": "prefix", "Value": outputs["InputPrefix"]}])
    ]
    # And the image queue redrives to the dead-letter queue
    dead_letter_arn = sqs.get_queue_attributes(
        QueueUrl=outputs["DeadLetterQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert json.loads(image_queue["RedrivePolicy"])["deadLetterTargetArn"] == dead_letter_arn
    # And the consumer mapping exists, disabled, on that queue
    mapping = lambda_client.get_event_source_mapping(UUID=outputs["EventSourceMappingId"])
    assert (mapping["State"], mapping["EventSourceArn"]) == ("Disabled", image_queue["QueueArn"])
    # And the state machine has the real definition with every substitution applied
    definition = client("stepfunctions").describe_state_machine(stateMachineArn=outputs["StateMachineArn"])[
        "definition"
    ]
    assert "${" not in definition
    assert "${" in REAL_DEFINITION.read_text(encoding="utf-8")
    assert "labelbatch-demo.2024-01-01T00.00.00" in definition
    assert outputs["EventSourceMappingId"] in definition
    # And the analysis function runs with the contract's environment
    environment = stack.functions["AnalyzeImageFunction"].environment
    assert environment["IMAGE_BUCKET"] == outputs["ImageBucketName"]
    assert environment["PROJECT_VERSION_ARN"] == EXAMPLE_PARAMETERS["ProjectVersionArn"]
    assert environment["POWERTOOLS_SERVICE_NAME"] == "labelbatch"
    assert stack.functions["AnalyzeImageFunction"].code_dir == REAL_TEMPLATE.parent / "functions"
    # And the batch-run schedule targets the state machine
    assert outputs["StateMachineArn"] in {schedule.target_arn for schedule in stack.schedules}
