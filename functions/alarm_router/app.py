"""SNS alarm topic -> on-call chats: each message delivered by `practika.alarms.router`."""

from practika import startup  # first: no garbage collection while the modules below load

# isort: split
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from practika.alarms import router
from practika.observability import logger, metrics, redacted_failures, tracer


@logger.inject_lambda_context(correlation_id_path="Records[0].Sns.MessageId", clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
@redacted_failures
@event_source(data_class=SNSEvent)
def handler(event: SNSEvent, context: LambdaContext) -> dict[str, Any]:
    router.idempotency_config.register_lambda_context(context)
    messages = [router.sns_message(record.sns.raw_event) for record in event.records]
    return {"delivered": {m.message_id: router.route(m, context.get_remaining_time_in_millis) for m in messages}}


startup.finished()
