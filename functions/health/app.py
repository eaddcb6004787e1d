"""GET /health: public, answers within a second, 200 healthy or 503 naming the failing part."""

from practika import startup  # first: no garbage collection while the modules below load

# isort: split
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from practika.health import HealthReport, check_health
from practika.http import build_resolver
from practika.observability import logger, metrics, redacted_failures, tracer

app = build_resolver()


@app.get("/health")
@tracer.capture_method
def health() -> Response[HealthReport]:
    report = check_health()
    return Response(
        status_code=200 if report.status == "healthy" else 503,
        content_type="application/json",
        body=report,
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
@redacted_failures
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


startup.finished()
