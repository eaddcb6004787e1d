"""CloudWatch Logs subscription -> the security log group: every `security_event` line, kept 90 days."""

from practika import startup  # first: no garbage collection while the modules below load

# isort: split
from aws_lambda_powertools.utilities.data_classes import CloudWatchLogsEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from practika import security_log
from practika.observability import logger, metrics, redacted_failures, tracer


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
@redacted_failures
@event_source(data_class=CloudWatchLogsEvent)
def handler(event: CloudWatchLogsEvent, context: LambdaContext) -> dict[str, int]:
    data = event.parse_logs_data()
    if data.message_type != "DATA_MESSAGE":  # CloudWatch's own check that the subscription works
        return {"forwarded": 0}
    lines = [security_log.LogLine(e.timestamp, e.message) for e in data.log_events]
    forwarded = security_log.forward(data.log_group, lines)
    logger.info("security events forwarded", source_log_group=data.log_group, count=forwarded)
    return {"forwarded": forwarded}


startup.finished()
