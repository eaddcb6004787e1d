"""Webhook sender: app events queued by the EventBridge rule -> one signed POST each to the app.

A failed attempt leaves its message hidden until the next attempt is due (backoff or the app's
Retry-After) and reports it failed; after the retry window it is parked in the DLQ.
"""

from practika import startup  # first: no garbage collection while the modules below load

# isort: split
import time

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from practika.events.delivery import deliver_queued
from practika.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    logger.set_correlation_id(record.message_id)
    try:
        deliver_queued(
            record.body,
            receipt_handle=record.receipt_handle,
            attempt_number=int(record.attributes.approximate_receive_count),
            sent_at_s=int(record.attributes.sent_timestamp) / 1000,
            now_s=time.time(),
        )
    finally:
        logger.remove_keys(["event_id", "event_type"])


# A batch has no single correlation id: each record sets its message id while it runs.
@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


startup.finished()
