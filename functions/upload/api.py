"""Upload API: POST /videos hands out upload URLs, POST /videos/{id}/complete ends a multipart upload,
GET /videos/{id} shows a video's status and facts to its owner."""

from practika import startup  # first: no garbage collection while the modules below load

# isort: split
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from practika.http import build_resolver, caller_id
from practika.observability import logger, metrics, redacted_failures, tracer
from practika.videos import uploads
from practika.videos.model import CompleteUploadRequest, CreatedVideo, CreateVideoRequest, VideoView

app = build_resolver()


@app.post("/videos")
@tracer.capture_method
def create_video(request: CreateVideoRequest) -> Response[CreatedVideo]:
    created = uploads.create_upload(caller_id(app), request)
    return Response(status_code=201, content_type="application/json", body=created)


@app.post("/videos/<video_id>/complete")
@tracer.capture_method
def complete_upload(video_id: str, request: CompleteUploadRequest) -> Response[VideoView]:
    view = uploads.complete_upload(caller_id(app), video_id, request)
    return Response(status_code=200, content_type="application/json", body=view)


@app.get("/videos/<video_id>")
@tracer.capture_method
def get_video(video_id: str) -> Response[VideoView]:
    view = uploads.describe_video(caller_id(app), video_id)
    return Response(status_code=200, content_type="application/json", body=view)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
@redacted_failures
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


startup.finished()
