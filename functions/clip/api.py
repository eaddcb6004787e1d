"""Clip API: POST /videos/{video_id}/clips asks for a clip, GET /clips/{clip_id} shows it."""

from practika import startup  # first: no garbage collection while the modules below load

# isort: split
from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from practika import clip_store, clips, video_store
from practika.clips import ClipRequest, ClipView
from practika.errors import QuotaExceeded
from practika.http import build_resolver, caller_id
from practika.models import Clip, ClipStatus, clip_object_key
from practika.observability import MetricName, SecurityEvent, log_security_event, logger, metrics, tracer

DOWNLOAD_URL_EXPIRY_S = 900

app = build_resolver()


@app.post("/videos/<video_id>/clips")
@tracer.capture_method
def request_clip(video_id: str, request: ClipRequest) -> Response[ClipView]:
    owner = caller_id(app)
    logger.append_keys(video_id=video_id)
    tracer.put_annotation(key="video_id", value=video_id)
    metrics.add_metric(name=MetricName.CLIP_REQUESTS, unit="Count", value=1)
    settings = clips.clip_settings()
    video = video_store.get_owned_video(video_id, owner)
    wanted = clips.checked_request(request, video, settings)
    clip = clips.new_clip(video, wanted)
    logger.append_keys(clip_id=clip.clip_id)
    tracer.put_annotation(key="clip_id", value=clip.clip_id)
    existing = clip_store.get_clip(clip.clip_id)
    if existing is None:
        try:
            clip, created = clip_store.create_clip(clip, max_per_day=settings.max_clips_per_day)
        except QuotaExceeded:
            log_security_event(SecurityEvent.QUOTA_EXCEEDED, "clip quota exceeded", owner=owner)
            raise
    else:
        clip, created = existing, False
    if created:
        clip_store.enqueue(settings.clip_queue_url, clip.clip_id)
        clips.count(MetricName.CLIP_CREATIONS, "mode", clip.requested.mode.value)
        logger.info("clip queued", mode=clip.requested.mode.value)
    elif clips.needs_requeue(clip, datetime.now(UTC)):
        clip_store.touch(clip.clip_id)
        clip_store.enqueue(settings.clip_queue_url, clip.clip_id)
        logger.warning("stale queued clip queued again")
    elif clips.can_retry(clip) and (requeued := clip_store.requeue_failed(clip.clip_id, clips.RETRYABLE_FAILURES)):
        clip = requeued
        clip_store.enqueue(settings.clip_queue_url, clip.clip_id)
        logger.info("failed clip queued again", error_code=existing.error.code if existing and existing.error else None)
    return Response(status_code=202 if created else 200, content_type="application/json", body=_view(clip))


@app.get("/clips/<clip_id>")
@tracer.capture_method
def get_clip(clip_id: str) -> Response[ClipView]:
    logger.append_keys(clip_id=clip_id)
    tracer.put_annotation(key="clip_id", value=clip_id)
    clip = clip_store.get_owned_clip(clip_id, caller_id(app))
    return Response(status_code=200, content_type="application/json", body=_view(clip))


def _view(clip: Clip) -> ClipView:
    url = None
    if clip.status == ClipStatus.READY:
        key = clip_object_key(clip.video_id, clip.clip_id)
        url = clip_store.presign_download(clip, key, expires_s=DOWNLOAD_URL_EXPIRY_S)
    return clips.view(clip, url)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


startup.finished()
