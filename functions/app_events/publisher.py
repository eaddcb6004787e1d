"""Event publisher: AppTable's stream -> one app event per state change on the stack's bus.

A record whose event EventBridge did not take is reported failed; Lambda retries from it (the
records after it are published again: same event ids, the app deduplicates on them).
"""

from practika import startup  # first: no garbage collection while the modules below load

# isort: split
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from practika.events.publish import publish_change
from practika.observability import logger, metrics, tracer
from practika.settings import publisher_settings

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    logger.set_correlation_id(record.event_id)
    change = record.dynamodb
    if change is None:
        return
    publish_change(change.old_image or None, change.new_image or None, publisher_settings().event_bus_name)


# A batch has no single correlation id: each record sets its stream event id while it runs.
@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


startup.finished()
