"""The moto shims that the deployment tests do not reach."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.config import default_user_config
from moto.sqs.models import sqs_backends
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from labelbatch.local.moto_shims import apply_moto_shims


def queue_of_400_images() -> Any:
    """moto's SQS backend, with a queue "images" of 400 messages sent as S3 would."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="images")["QueueUrl"]
    for start in range(0, 400, 10):
        entries = [{"Id": str(i), "MessageBody": f"image {start + i}"} for i in range(10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    return sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def test_concurrent_receives_never_take_the_same_message() -> None:
    apply_moto_shims()
    with mock_aws():
        # Given a queue of 400 messages
        backend = queue_of_400_images()

        # When eight pollers receive at once, as the local consumer's do, until the queue is empty
        def poll(_: int) -> list[str]:
            taken: list[str] = []
            while received := backend.receive_message("images", 2, 0, 360):
                taken += [message.id for message in received]
            return taken

        with ThreadPoolExecutor(max_workers=8) as pollers:
            taken = [identifier for batch in pollers.map(poll, range(8)) for identifier in batch]

        # Then every message was received once
        assert len(taken) == 400
        assert len(set(taken)) == 400


def test_concurrent_conditional_writes_let_one_through() -> None:
    apply_moto_shims()
    with mock_aws():
        # Given a lock item that nobody holds, as the run-lock table starts
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="run-lock",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        contenders = 8
        rounds = 25
        together = threading.Barrier(contenders)

        # When eight runs try to acquire it at the same moment, round after round, as the definition does
        def acquire(round_number: int, owner: int) -> str:
            together.wait()
            try:
                dynamodb.update_item(
                    TableName="run-lock",
                    Key={"pk": {"S": f"round {round_number}"}},
                    UpdateExpression="SET #owner = :me",
                    ConditionExpression="attribute_not_exists(#owner)",
                    ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={":me": {"S": str(owner)}},
                )
            except ClientError as error:
                return str(error.response["Error"]["Code"])
            return "acquired"

        with ThreadPoolExecutor(max_workers=contenders) as runs:
            outcomes = [
                Counter(runs.map(lambda owner, r=round_number: acquire(r, owner), range(contenders)))
                for round_number in range(rounds)
            ]

        # Then each round exactly one of them holds it, and the others are told so
        expected = Counter({"acquired": 1, "ConditionalCheckFailedException": contenders - 1})
        assert outcomes == [expected] * rounds


def test_concurrent_deletes_and_uploads_undo_none_of_each_other() -> None:
    apply_moto_shims()
    with mock_aws():
        # Given a queue of 400 messages, all received by the consumer
        backend = queue_of_400_images()
        received = backend.receive_message("images", 400, 0, 360)
        assert len(received) == 400

        # When eight pollers delete what they processed while uploads add 200 more messages
        def delete(handles: list[str]) -> None:
            for handle in handles:
                backend.delete_message("images", handle)

        def upload(first: int) -> None:
            for index in range(first, first + 50):
                backend.send_message("images", f"new image {index}")

        handles = [message.receipt_handle for message in received]
        with ThreadPoolExecutor(max_workers=12) as workers:
            work = [workers.submit(delete, handles[start::8]) for start in range(8)]
            work += [workers.submit(upload, first) for first in range(0, 200, 50)]
            for done in work:
                done.result()

        # Then no deleted message came back and no upload was lost
        remaining = sorted(message.body for message in backend.get_queue("images")._messages)
        assert remaining == sorted(f"new image {index}" for index in range(200))


def test_executions_sharing_one_parsed_definition_keep_their_own_data() -> None:
    # Given the engine executing definitions (parsed once per text, shim 12) and one definition that carries
    # its input through a Parallel, a Wait, a Retry and a Choice
    apply_moto_shims()
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Carry",
                        "States": {
                            "Carry": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "Next": "Pause"},
                            "Pause": {"Type": "Wait", "Seconds": 1, "End": True},
                        },
                    }
                ],
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}],
                "OutputPath": "$[0]",
                "Next": "Small?",
            },
            "Small?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThan": 3, "Next": "Small"}],
                "Default": "Large",
            },
            "Small": {"Type": "Pass", "Parameters": {"n.$": "$.n", "size": "small"}, "End": True},
            "Large": {"Type": "Pass", "Parameters": {"n.$": "$.n", "size": "large"}, "End": True},
        },
    }
    parses_served = AmazonStateLanguageParser.parse.cache_info().hits
    with engine_running("carry", definition) as (sfn, arn):
        # When six executions run at once, each with its own input
        executions = [
            sfn.start_execution(stateMachineArn=arn, name=f"n{n}", input=json.dumps({"n": n}))["executionArn"]
            for n in range(6)
        ]
        outputs = [wait_for_output(sfn, execution) for execution in executions]

    # Then each ran the one parse made when the state machine was created, and ended with its own value and
    # its own branch of the Choice
    assert AmazonStateLanguageParser.parse.cache_info().hits - parses_served >= 6
    assert outputs == [{"n": n, "size": "small" if n < 3 else "large"} for n in range(6)]


def test_an_execution_stopped_while_a_state_is_in_mid_step_ends_aborted(monkeypatch: Any) -> None:
    # Given the engine executing a definition whose only task runs inside a Parallel (as the batch run's do),
    # and a task that is in mid-step when StopExecution lands, then raises as it unwinds
    apply_moto_shims()
    definition = {
        "StartAt": "Body",
        "States": {
            "Body": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Count",
                        "States": {
                            "Count": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::aws-sdk:sqs:listQueues",
                                "End": True,
                            }
                        },
                    }
                ],
                "End": True,
            }
        },
    }
    execution_arn = f"arn:aws:states:us-east-1:{DEFAULT_ACCOUNT_ID}:execution:stoppable:operator-stops-it"

    def stopped_in_mid_step(*_args: Any, **_kwargs: Any) -> None:
        boto3.client("stepfunctions", region_name="us-east-1").stop_execution(
            executionArn=execution_arn, cause="stopped by an operator"
        )
        raise IndexError("pop from empty list")

    monkeypatch.setattr(StateTaskServiceAwsSdk, "_eval_service_task", stopped_in_mid_step)
    with engine_running("stoppable", definition) as (sfn, arn):
        # When it runs and is stopped
        sfn.start_execution(stateMachineArn=arn, name="operator-stops-it")
        status = wait_for_end(sfn, execution_arn)["status"]

    # Then it ended ABORTED, as on AWS, not FAILED with the error of its unwinding
    assert status == "ABORTED"


def test_jsonata_states_evaluate_their_expressions() -> None:
    # Given the engine executing a definition whose JSONata states multiply, divide and round (what JSONPath
    # cannot), assign a variable, wait on an expression and choose on a condition
    apply_moto_shims()
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Size",
        "States": {
            "Size": {
                "Type": "Pass",
                "Assign": {
                    "units": "{% $min([4, $ceil($states.input.backlog / ($states.input.tps * 60))]) %}"
                },
                "Output": {"seconds": "{% $states.input.minutes * 60 %}"},
                "Next": "Pause",
            },
            "Pause": {"Type": "Wait", "Seconds": "{% $units - 2 %}", "Next": "Many?"},
            "Many?": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $units > 2 %}", "Next": "Many"}],
                "Default": "Few",
            },
            "Many": {
                "Type": "Pass",
                "Output": {"seconds": "{% $states.input.seconds %}", "units": "{% $units %}"},
                "End": True,
            },
            "Few": {"Type": "Fail", "Error": "Few"},
        },
    }
    with engine_running("jsonata", definition) as (sfn, arn):
        # When it runs on a backlog that needs three units of 5 images a second for a minute
        execution = sfn.start_execution(
            stateMachineArn=arn, input=json.dumps({"backlog": 750, "tps": 5, "minutes": 16})
        )["executionArn"]
        output = wait_for_output(sfn, execution)

    # Then every expression was evaluated as on AWS
    assert output == {"seconds": 960, "units": 3}


@contextmanager
def engine_running(name: str, definition: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    """A Step Functions client on moto with its engine executing definitions, and the ARN of `definition`."""
    previous = default_user_config["stepfunctions"]["execute_state_machine"]
    default_user_config["stepfunctions"]["execute_state_machine"] = True
    try:
        with mock_aws():
            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            arn = sfn.create_state_machine(
                name=name,
                definition=json.dumps(definition),
                roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/{name}",
            )["stateMachineArn"]
            yield sfn, arn
    finally:
        default_user_config["stepfunctions"]["execute_state_machine"] = previous


def wait_for_end(sfn: Any, execution_arn: str) -> Any:
    for _ in range(300):
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError(f"{execution_arn} still RUNNING after 15 s")


def wait_for_output(sfn: Any, execution_arn: str) -> Any:
    described = wait_for_end(sfn, execution_arn)
    assert described["status"] == "SUCCEEDED", described
    return json.loads(described["output"])
