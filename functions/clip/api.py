"""Clip API: POST /videos/{video_id}/clips asks for a clip, GET /clips/{clip_id} shows it."""

from practika import startup  # first: no garbage collection while the modules below load

# isort: split
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from practika.clips import service
from practika.clips.model import ClipRequest, ClipView
from practika.http import build_resolver, caller_id
from practika.observability import logger, metrics, redacted_failures, tracer

app = build_resolver()


@app.post("/videos/<video_id>/clips")
@tracer.capture_method
def request_clip(video_id: str, request: ClipRequest) -> Response[ClipView]:
    view, created = service.request_clip(caller_id(app), video_id, request)
    return Response(status_code=202 if created else 200, content_type="application/json", body=view)


@app.get("/clips/<clip_id>")
@tracer.capture_method
def get_clip(clip_id: str) -> Response[ClipView]:
    view = service.describe_clip(caller_id(app), clip_id)
    return Response(status_code=200, content_type="application/json", body=view)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
@redacted_failures
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


startup.finished()
