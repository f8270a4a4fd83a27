"""Lambda entry point of AnalyzeImageFunction (handler `analyze_image.app.handler`).

The image queue's event source mapping reports batch item failures: a record whose handler raises returns
to the queue alone, after the back-off of retry.py. When every record of a batch fails, Powertools raises
BatchProcessingError, which fails the invocation: all messages return to the queue and the function's Errors
metric shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from analyze_image.clients import rekognition_client, s3_client, sqs_client
from analyze_image.processing import process_message
from analyze_image.retry import delay_retry, retry_delay_seconds
from analyze_image.settings import SettingsError, get_settings
from observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    with logger.append_context_keys(messageId=record.message_id):
        try:
            process_message(
                record.body, settings=get_settings(), rekognition=rekognition_client(), s3=s3_client()
            )
        except Exception as exc:
            # Powertools keeps the exception only for its own response: log why before the record fails.
            logger.exception("message failed", extra={"reason": str(exc)})
            _hide_until_retry(record)
            raise


def _hide_until_retry(record: SQSRecord) -> None:
    try:
        settings = get_settings()
    except SettingsError:
        # Left to the queue's visibility timeout: a deployment fault is not fixed within seconds.
        return
    receive_count = int(record.attributes.approximate_receive_count)
    delay_retry(
        sqs_client(),
        queue_url=settings.image_queue_url,
        receipt_handle=record.receipt_handle,
        delay=retry_delay_seconds(receive_count, first_delay=settings.retry_delay_seconds),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
