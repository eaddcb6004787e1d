"""Clip worker: one SQS message per clip job; failures are reported per record (partial batch response)."""

from practika import startup  # first: no garbage collection while the modules below load

# isort: split
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from practika.clips import worker
from practika.observability import logger, metrics, redacted_failures, tracer

processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> None:
    logger.set_correlation_id(record.message_id)
    attempt = int(record.attributes.approximate_receive_count or 1)
    try:
        worker.run_job(
            record.body,
            attempt=attempt,
            remaining_ms=lambda_context.get_remaining_time_in_millis,
            sent_at_s=int(record.attributes.sent_timestamp) / 1000,
        )
    except worker.RecordPending as pending:
        worker.retry_later(record.receipt_handle, pending.retry_in_s)
        raise


# A batch has no single correlation id: each record sets its message id while it runs.
@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
@redacted_failures
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


startup.finished()
