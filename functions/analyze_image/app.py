"""Lambda entry point of AnalyzeImageFunction (handler `analyze_image.app.handler`).

The records of a batch are analyzed side by side, each in a thread of its own, at this execution environment's
pace of one call a second (pacing.py), so that a slow answer does not hold back the next call. A record whose
message was answered, retried later or dead-lettered succeeds; only a record the invocation had no time for
fails, and it comes back at once (settle.py): the event source mapping reports batch item failures.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)

from analyze_image.analysis import OutOfTimeError
from analyze_image.clients import rekognition_client, s3_client, sqs_client
from analyze_image.notification import InvalidNotificationError
from analyze_image.pacing import CallPacer, Deadline
from analyze_image.processing import BatchTally, ModelAccess, process_message
from analyze_image.result import ResultKeyTooLongError
from analyze_image.settings import get_settings
from analyze_image.settle import Queues, come_back_now, dead_letter, retry_later
from observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

# A started image needs one model call (10 s read timeout), its result write and, at worst, a retry message:
# no call starts later than this before the function timeout.
DEADLINE_MARGIN_SECONDS: Final = 15
# A thread per record, for batches of up to ten (the mapping's BatchSize is 2): a model call that takes longer
# than the pace does not hold back the next record's call.
_ANALYSTS = ThreadPoolExecutor(max_workers=10, thread_name_prefix="analyst")
_NO_RETRY_CAN_FIX: Final = (InvalidNotificationError, ResultKeyTooLongError)

# This execution environment's pace, kept across its invocations.
_PACER = CallPacer()
# Every record fails alone; a batch whose records all ran out of time is not an error of the function.
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


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
    model = ModelAccess(
        client=rekognition_client(),
        pacer=_PACER,
        deadline=Deadline.before_timeout(
            context.get_remaining_time_in_millis(), margin_seconds=DEADLINE_MARGIN_SECONDS
        ),
        tally=BatchTally(),
    )

    async def analyze(record: SQSRecord) -> None:
        await asyncio.get_running_loop().run_in_executor(_ANALYSTS, handle_record, record, model)

    response = async_process_partial_response(
        event=event, record_handler=analyze, processor=processor, context=context
    )
    model.tally.publish(metrics)
    return response
