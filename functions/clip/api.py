"""Clip API: POST /videos/{video_id}/clips asks for a clip, GET /clips/{clip_id} shows it,
GET /videos/{video_id}/clips lists a video's clips, DELETE /clips/{clip_id} erases one."""

from practika import startup  # first: no garbage collection while the modules below load

# isort: split

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from practika.clips import service
from practika.clips.model import ClipPage, ClipRequest, ClipView
from practika.http import Deleted, PageCursor, PageLimit, build_resolver, caller_id
from practika.observability import logger, metrics, redacted_failures, tracer
from practika.pages import DEFAULT_LIMIT

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


@app.get("/videos/<video_id>/clips")
@tracer.capture_method
def list_clips(
    video_id: str,
    cursor: PageCursor = None,
    limit: PageLimit = DEFAULT_LIMIT,
) -> Response[ClipPage]:
    page = service.list_clips(caller_id(app), video_id, cursor=cursor, limit=limit)
    return Response(status_code=200, content_type="application/json", body=page)


@app.delete("/clips/<clip_id>")
@tracer.capture_method
def delete_clip(clip_id: str) -> Response[Deleted]:
    service.delete_clip(caller_id(app), clip_id)
    return Response(status_code=202, content_type="application/json", body=Deleted(id=clip_id))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
@redacted_failures
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


startup.finished()
