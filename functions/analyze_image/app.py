"""Lambda entry point of AnalyzeImageFunction (handler `analyze_image.app.handler`).

The records of a batch are analyzed side by side, each in a thread of its own, at this execution environment's
pace of one call a second (pacing.py), so that a slow answer does not hold back the next call. A record whose
message was answered, retried later or dead-lettered succeeds; only a record the invocation had no time for
fails, and it comes back at once (settle.py): the event source mapping reports batch item failures.
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

import boto3
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from botocore.config import Config

from analyze_image.analysis import CustomLabelsApi, ModelAccess, OutOfTimeError
from analyze_image.notification import InvalidNotificationError
from analyze_image.pacing import CallPacer, Deadline
from analyze_image.processing import BatchTally, process_message
from analyze_image.result import ResultKeyTooLongError
from analyze_image.settings import get_settings
from analyze_image.settle import Queues, come_back_now, dead_letter, retry_later
from observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# A started image needs one model call (10 s read timeout), its result write and, at worst, a retry message:
# no call starts later than this before the function timeout.
DEADLINE_MARGIN_SECONDS: Final = 15
# No SDK retries: analysis.py paces the calls and retries throttling at the model's capacity, where the SDK's
# back-off would slow the client far below what the model admits. Timeouts are far below botocore's 60 s
# default, which equals the function timeout: one hung call must fail one image, not time out the batch.
_REKOGNITION_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1})
# A thread per record, for batches of up to ten (the mapping's BatchSize is 2).
_ANALYSTS = ThreadPoolExecutor(max_workers=10, thread_name_prefix="analyst")
_NO_RETRY_CAN_FIX: Final = (InvalidNotificationError, ResultKeyTooLongError)
# This execution environment's pace, kept across its invocations.
_PACER = CallPacer()
# Every record fails alone; a batch whose records all ran out of time is not an error of the function.
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


# Built once per execution environment, in Lambda's init phase (see the end of this module): later
# invocations reuse the clients and their connections. Functions rather than module constants, so that tests
# can point the SDK elsewhere first (they call `cache_clear()` then).
@functools.cache
def rekognition_client() -> CustomLabelsApi:
    client: CustomLabelsApi = boto3.client("rekognition", config=_REKOGNITION_CONFIG)
    return client


@functools.cache
def s3_client() -> S3Client:
    return boto3.client("s3")


@functools.cache
def sqs_client() -> SQSClient:
    return boto3.client("sqs")


def handle_record(record: SQSRecord, model: ModelAccess) -> None:
    settings = get_settings()
    queues = Queues(sqs_client(), settings.image_queue_url, settings.dead_letter_queue_url)
    try:
        process_message(
            record.body, message_id=record.message_id, settings=settings, model=model, s3=s3_client()
        )
    except OutOfTimeError:
        model.tally.add("ImagesDeferred")
        come_back_now(record, queues)
        raise
    except _NO_RETRY_CAN_FIX as error:
        dead_letter(record, queues, reason=str(error))
        model.tally.add("MessagesDeadLettered")
    except Exception as error:
        settled = retry_later(record, queues, reason=str(error), first_delay=settings.retry_delay_seconds)
        model.tally.add("RetriesScheduled" if settled == "retried" else "MessagesDeadLettered")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # A configuration fault fails the whole invocation, loudly, before any record is touched.
    get_settings()
    remaining_ms = context.get_remaining_time_in_millis()
    deadline = Deadline.before_timeout(remaining_ms, margin_seconds=DEADLINE_MARGIN_SECONDS)
    tally = BatchTally()
    model = ModelAccess(client=rekognition_client(), pacer=_PACER, deadline=deadline, tally=tally)

    async def analyze(record: SQSRecord) -> None:
        await asyncio.get_running_loop().run_in_executor(_ANALYSTS, handle_record, record, model)

    response = async_process_partial_response(event, analyze, processor, context)
    tally.publish(metrics)
    return response


# The init phase runs before the first invocation, at full CPU on AWS: building the clients there (AWS's
# guidance for SDK clients) keeps it off the first batch, which otherwise waited for them beside the model.
# Only inside Lambda's runtime, which sets this variable: tests build their clients against their own mocks.
if "AWS_LAMBDA_FUNCTION_NAME" in os.environ:
    rekognition_client(), s3_client(), sqs_client()
