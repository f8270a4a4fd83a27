"""Least privilege after the SAM transform: no wildcard actions, every grant on this stack's own resources,
each role exactly the permissions it uses, and the state machine allowed every call its definition makes on
the very resource that call names."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.template import (
    ACCOUNT,
    EXAMPLE_PROJECT_ARN,
    EXAMPLE_PROJECT_VERSION_ARN,
    REGION,
    Resolver,
    allow_statements,
    as_list,
    evaluate_jsonata,
    iter_role_documents,
    run_input,
    sdk_tasks,
    substituted_definition,
)

Resources = dict[str, dict[str, Any]]
Grants = dict[str, dict[str, set[str]]]

# Step Functions log delivery: these actions take no resource-level permission, so AWS documents Resource "*".
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:CreateLogStream",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutLogEvents",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
# The only AWS managed policies SAM may attach: CloudWatch Logs writes and X-Ray segment writes, nothing on
# SQS, S3 or Rekognition (in particular not AWSLambdaSQSQueueExecutionRole, which grants SQS on "*").
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY_WRITE = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"

# Which resource each Rekognition action may name, per the Service Authorization Reference:
# DescribeProjectVersions takes the project resource type, the others the project version resource type.
REKOGNITION_RESOURCES = {
    "rekognition:DescribeProjectVersions": {EXAMPLE_PROJECT_ARN},
    "rekognition:StartProjectVersion": {EXAMPLE_PROJECT_VERSION_ARN},
    "rekognition:StopProjectVersion": {EXAMPLE_PROJECT_VERSION_ARN},
    "rekognition:DetectCustomLabels": {EXAMPLE_PROJECT_VERSION_ARN},
}

# How each SDK call of the definition names the resource IAM authorizes it on, and that resource's ARN (the
# resource types of the Service Authorization Reference). A call missing here fails the test that uses it.
SDK_CALL_RESOURCES: dict[str, tuple[str, Callable[[str], str]]] = {
    "dynamodb": ("TableName", lambda table: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"),
    # https://sqs.<region>.amazonaws.com/<account>/<name>
    "sqs": ("QueueUrl", lambda url: f"arn:aws:sqs:{REGION}:{url.split('/')[3]}:{url.split('/')[4]}"),
    "lambda": ("Uuid", lambda uuid: f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid}"),
    # Hierarchical parameter names start with "/", which the ARN does not double.
    "ssm": ("Name", lambda name: f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}"),
    "rekognition:describeProjectVersions": ("ProjectArn", str),
    "rekognition": ("ProjectVersionArn", str),
}
# The IAM service prefix of an SDK integration's service, where the two differ.
IAM_PREFIXES = {"sfn": "states"}


def granted(resources: Resources, resolve: Resolver) -> Grants:
    """role -> action -> the resolved resources its Allow statements name."""
    grants: Grants = defaultdict(lambda: defaultdict(set))
    for role, document in iter_role_documents(resources):
        for statement in allow_statements(document):
            for action in as_list(statement["Action"]):
                grants[role][action].update(
                    str(resource) for resource in as_list(resolve(statement["Resource"]))
                )
    return grants


def every_allow_statement(resources: Resources) -> list[tuple[str, dict[str, Any]]]:
    """Allow statements of identity policies and of the bucket, queue and topic resource policies."""
    statements = [
        (logical_id, statement)
        for logical_id, document in iter_role_documents(resources)
        for statement in allow_statements(document)
    ]
    for logical_id, resource in resources.items():
        if resource["Type"] in {"AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"}:
            statements += [
                (logical_id, statement)
                for statement in allow_statements(resource["Properties"]["PolicyDocument"])
            ]
    return statements


def arn_of(resolve: Resolver, logical_id: str) -> str:
    arn: str = resolve({"Fn::GetAtt": [logical_id, "Arn"]})
    return arn


def mapping_arn(resolve: Resolver) -> str:
    """The image queue's event source mapping, as IAM names it (Ref gives only its UUID)."""
    uuid = resolve({"Ref": "ImageQueueEventSourceMapping"})
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid}"


def test_no_allow_statement_has_a_wildcard_action(resources: Resources) -> None:
    wildcards = [
        (logical_id, action)
        for logical_id, statement in every_allow_statement(resources)
        for action in as_list(statement.get("Action", []))
        if "*" in action
    ]

    assert wildcards == []
    assert not any(
        "NotAction" in statement or "NotResource" in statement
        for _, statement in every_allow_statement(resources)
    )


def test_only_log_delivery_actions_name_every_resource(resources: Resources, resolve: Resolver) -> None:
    on_everything = {
        (role, action)
        for role, actions in granted(resources, resolve).items()
        for action, named in actions.items()
        if "*" in named
    }

    assert on_everything == {("BatchRunStateMachineRole", action) for action in LOG_DELIVERY_ACTIONS}


def test_managed_policies_are_only_logging_and_tracing(resources: Resources) -> None:
    attached = {
        logical_id: resource["Properties"].get("ManagedPolicyArns", [])
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
    }

    assert attached == {
        "AnalyzeImageFunctionRole": [BASIC_EXECUTION, XRAY_WRITE],
        "ModelReaperFunctionRole": [BASIC_EXECUTION, XRAY_WRITE],
        "BatchRunStateMachineRole": [XRAY_WRITE],
        "BatchRunStateMachineBatchRunScheduleRole": [],
        "ModelReaperFunctionReaperScheduleRole": [],
    }


def test_roles_are_assumed_only_by_their_service(resources: Resources) -> None:
    trusted = {
        logical_id: [
            statement["Principal"]["Service"]
            for statement in resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        ]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::IAM::Role"
    }

    assert trusted == {
        "AnalyzeImageFunctionRole": [["lambda.amazonaws.com"]],
        "ModelReaperFunctionRole": [["lambda.amazonaws.com"]],
        "BatchRunStateMachineRole": [["states.amazonaws.com"]],
        "BatchRunStateMachineBatchRunScheduleRole": [["scheduler.amazonaws.com"]],
        "ModelReaperFunctionReaperScheduleRole": [["scheduler.amazonaws.com"]],
    }


def test_each_role_gets_exactly_its_permissions(resources: Resources, resolve: Resolver) -> None:
    # Given the ARNs of this stack's resources, as AWS forms them from their names
    bucket = arn_of(resolve, "ImageBucket")
    queue = arn_of(resolve, "ImageQueue")
    dead_letter_queue = arn_of(resolve, "ImageDeadLetterQueue")
    lock_table = arn_of(resolve, "RunLockTable")
    mapping = mapping_arn(resolve)
    marker = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{resolve({'Ref': 'ModelStartMarkerParameter'})}"
    state_machine = resolve({"Ref": "BatchRunStateMachine"})
    # An execution's ARN is its state machine's with "execution" for "stateMachine", then the execution name.
    executions = state_machine.replace(":stateMachine:", ":execution:") + ":*"

    # When the roles' Allow statements are resolved
    grants = granted(resources, resolve)

    # Then each role may do exactly what its code or definition does, on this stack's resources only
    assert grants["AnalyzeImageFunctionRole"] == {
        "rekognition:DetectCustomLabels": {EXAMPLE_PROJECT_VERSION_ARN},
        "s3:GetObject": {f"{bucket}/images/*"},
        "s3:GetObjectVersion": {f"{bucket}/images/*"},
        # Key names only: it makes S3 answer 404, not 403, for an image deleted before analysis.
        "s3:ListBucket": {bucket},
        "s3:PutObject": {f"{bucket}/results/*"},
        "sqs:ReceiveMessage": {queue},
        "sqs:DeleteMessage": {queue},
        "sqs:GetQueueAttributes": {queue},
        "sqs:ChangeMessageVisibility": {queue},
        # A failed image goes back on the image queue with a delay; a hopeless one to the dead-letter queue.
        "sqs:SendMessage": {queue, dead_letter_queue},
    }
    assert grants["ModelReaperFunctionRole"] == {
        "rekognition:DescribeProjectVersions": {EXAMPLE_PROJECT_ARN},
        "rekognition:StopProjectVersion": {EXAMPLE_PROJECT_VERSION_ARN},
        "lambda:GetEventSourceMapping": {mapping},
        "lambda:UpdateEventSourceMapping": {mapping},
        "sqs:GetQueueAttributes": {queue},
        "ssm:GetParameter": {marker},
        "ssm:PutParameter": {marker},
        "dynamodb:GetItem": {lock_table},
        "dynamodb:UpdateItem": {lock_table},
        # Whether the run holding the lock still lives: only this state machine's executions.
        "states:DescribeExecution": {executions},
    }
    assert grants["BatchRunStateMachineRole"] == {
        "dynamodb:UpdateItem": {lock_table},
        "sqs:GetQueueAttributes": {queue},
        "sqs:ReceiveMessage": {queue},
        "sqs:DeleteMessage": {queue},
        "rekognition:DescribeProjectVersions": {EXAMPLE_PROJECT_ARN},
        "rekognition:StartProjectVersion": {EXAMPLE_PROJECT_VERSION_ARN},
        "rekognition:StopProjectVersion": {EXAMPLE_PROJECT_VERSION_ARN},
        "lambda:GetEventSourceMapping": {mapping},
        "lambda:UpdateEventSourceMapping": {mapping},
        "ssm:GetParameter": {marker},
        "ssm:PutParameter": {marker},
        **{action: {"*"} for action in LOG_DELIVERY_ACTIONS},
    }
    assert grants["BatchRunStateMachineBatchRunScheduleRole"] == {"states:StartExecution": {state_machine}}
    assert grants["ModelReaperFunctionReaperScheduleRole"] == {
        "lambda:InvokeFunction": {arn_of(resolve, "ModelReaperFunction")}
    }


def test_rekognition_actions_name_only_the_two_model_arns(resources: Resources, resolve: Resolver) -> None:
    for role, actions in granted(resources, resolve).items():
        for action, named in actions.items():
            if action.startswith("rekognition:"):
                assert named == REKOGNITION_RESOURCES[action], (role, action)


def test_s3_reads_only_under_the_input_prefix_and_writes_only_under_the_results_prefix(
    resources: Resources, resolve: Resolver
) -> None:
    bucket = arn_of(resolve, "ImageBucket")
    input_prefix, results_prefix = resolve({"Ref": "InputPrefix"}), resolve({"Ref": "ResultsPrefix"})

    s3_grants = {
        (action, resource)
        for actions in granted(resources, resolve).values()
        for action, named in actions.items()
        if action.startswith("s3:")
        for resource in named
    }

    assert s3_grants == {
        ("s3:GetObject", f"{bucket}/{input_prefix}*"),
        ("s3:GetObjectVersion", f"{bucket}/{input_prefix}*"),
        ("s3:ListBucket", bucket),
        ("s3:PutObject", f"{bucket}/{results_prefix}*"),
    }


def test_the_consumer_switch_names_only_this_mapping(resources: Resources, resolve: Resolver) -> None:
    mapping = mapping_arn(resolve)

    for actions in granted(resources, resolve).values():
        for action in ("lambda:UpdateEventSourceMapping", "lambda:GetEventSourceMapping"):
            assert actions.get(action, {mapping}) == {mapping}


def test_every_sdk_call_of_the_definition_is_allowed_on_the_resource_it_names(
    resources: Resources, resolve: Resolver, state_machine_definition_path: Path
) -> None:
    # Given the definition as deployed and the state machine role's grants
    definition = substituted_definition(resources, resolve, state_machine_definition_path)
    grants = granted(resources, resolve)["BatchRunStateMachineRole"]

    # When each SDK call is matched with the resource its parameters name
    calls = []
    for name, state in sdk_tasks(definition["States"]):
        service, api = state["Resource"].removeprefix("arn:aws:states:::aws-sdk:").split(":")
        action = f"{IAM_PREFIXES.get(service, service)}:{api[0].upper()}{api[1:]}"
        parameter, to_arn = SDK_CALL_RESOURCES.get(f"{service}:{api}") or SDK_CALL_RESOURCES[service]
        arguments = state.get("Parameters") or evaluate_jsonata(state["Arguments"], run_input(definition))
        calls.append((name, action, to_arn(arguments[parameter])))

    # Then the role allows each call on that resource, and allows nothing the definition does not call
    assert calls
    assert [(name, action, arn) for name, action, arn in calls if arn not in grants.get(action, set())] == []
    assert set(grants) - LOG_DELIVERY_ACTIONS == {action for _, action, _ in calls}
