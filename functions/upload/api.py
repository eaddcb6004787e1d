"""Upload API: POST /videos hands out upload URLs, POST /videos/{id}/complete ends a multipart upload,
POST /videos/{id}/upload-urls renews its part URLs, GET /videos/{id} shows a video's status and facts
to its owner, GET /videos lists the owner's videos, DELETE /videos/{id} erases one."""

from practika import startup  # first: no garbage collection while the modules below load

# isort: split
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from practika.http import Deleted, PageCursor, PageLimit, build_resolver, caller_id
from practika.observability import logger, metrics, redacted_failures, tracer
from practika.pages import DEFAULT_LIMIT
from practika.videos import lifecycle, uploads
from practika.videos.model import (
    CompleteUploadRequest,
    CreatedVideo,
    CreateVideoRequest,
    MultipartUpload,
    VideoPage,
    VideoStatus,
    VideoView,
)

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


@app.get("/videos")
@tracer.capture_method
def list_videos(
    status: Annotated[VideoStatus | None, Query(description="only videos in this status")] = None,
    cursor: PageCursor = None,
    limit: PageLimit = DEFAULT_LIMIT,
) -> Response[VideoPage]:
    page = lifecycle.list_videos(caller_id(app), status=status, cursor=cursor, limit=limit)
    return Response(status_code=200, content_type="application/json", body=page)


@app.post("/videos/<video_id>/upload-urls")
@tracer.capture_method
def renew_upload_urls(video_id: str) -> Response[MultipartUpload]:
    upload = lifecycle.fresh_part_urls(caller_id(app), video_id)
    return Response(status_code=200, content_type="application/json", body=upload)


@app.delete("/videos/<video_id>")
@tracer.capture_method
def delete_video(video_id: str) -> Response[Deleted]:
    lifecycle.delete_video(caller_id(app), video_id)
    return Response(status_code=202, content_type="application/json", body=Deleted(id=video_id))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False, clear_state=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
@redacted_failures
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


startup.finished()
