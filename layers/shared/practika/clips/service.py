"""Clips: asking for a clip (checked, counted against the daily quota, queued once) and showing it."""

from typing import NoReturn

from botocore.exceptions import BotoCoreError, ClientError

from practika import clock
from practika.clips import rules, store
from practika.clips.model import Clip, ClipPage, ClipRequest, ClipStatus, ClipView, clip_object_key
from practika.errors import QuotaExceeded, Unavailable
from practika.observability import MetricName, SecurityEvent, count_by, log_security_event, logger, metrics, tracer
from practika.pages import DEFAULT_LIMIT
from practika.settings import clip_settings
from practika.videos import store as video_store

DOWNLOAD_URL_EXPIRY_S = 900


@tracer.capture_method
def request_clip(owner: str, video_id: str, request: ClipRequest) -> tuple[ClipView, bool]:
    """The clip for this range of the video, and whether this request created it.

    A clip asked for again answers the existing one; a queued clip whose job may have been lost,
    or one that failed for a passing reason, is queued again.

    The job is always sent before the record is written: a clip record never exists without its
    job, so no clip can be stranded in `queued`. If the record's write fails, the request fails and
    the job finds no record (the worker drops it); the client's retry creates both again. An owner
    already at the daily quota is refused before any job is sent (the transaction in create_clip
    still decides a race for the last one).
    """
    logger.append_keys(video_id=video_id)
    tracer.put_annotation(key="video_id", value=video_id)
    metrics.add_metric(name=MetricName.CLIP_REQUESTS, unit="Count", value=1)
    settings = clip_settings()
    video = video_store.get_owned(video_id, owner).video
    wanted = rules.checked_request(request, video, settings)
    clip = rules.new_clip(video, wanted)
    logger.append_keys(clip_id=clip.clip_id)
    tracer.put_annotation(key="clip_id", value=clip.clip_id)
    existing = store.get_clip(clip.clip_id)
    if existing is None:
        if store.clips_today(owner) >= settings.max_clips_per_day:
            _quota_exceeded(owner, settings.max_clips_per_day)
        _send_job(settings.clip_queue_url, clip.clip_id)
        try:
            clip, created = store.create_clip(clip, max_per_day=settings.max_clips_per_day)
        except QuotaExceeded:
            log_security_event(SecurityEvent.QUOTA_EXCEEDED, "clip quota exceeded", owner=owner)
            raise
    else:
        clip, created = existing, False
    if created:
        count_by(MetricName.CLIP_CREATIONS, "mode", clip.requested.mode.value)
        logger.info("clip queued", mode=clip.requested.mode.value)
    elif rules.needs_requeue(clip, clock.now()):
        _send_job(settings.clip_queue_url, clip.clip_id)
        store.touch(clip.clip_id)
        logger.warning("stale queued clip queued again")
    elif rules.can_retry(clip):
        _send_job(settings.clip_queue_url, clip.clip_id)
        if requeued := store.requeue_failed(clip.clip_id, rules.RETRYABLE_FAILURES):
            clip = requeued
            logger.info(
                "failed clip queued again", error_code=existing.error.code if existing and existing.error else None
            )
    return _view(clip), created


def _quota_exceeded(owner: str, max_per_day: int) -> NoReturn:
    log_security_event(SecurityEvent.QUOTA_EXCEEDED, "clip quota exceeded", owner=owner)
    raise QuotaExceeded("daily clip quota reached", details={"max_clips_per_day": max_per_day})


def _send_job(queue_url: str, clip_id: str) -> None:
    """Queue the clip's job, or fail the request before anything is written (503: ask again)."""
    try:
        store.enqueue(queue_url, clip_id)
    except (ClientError, BotoCoreError) as error:
        logger.error("clip job not queued", error=type(error).__name__)
        raise Unavailable("the clip could not be queued; nothing was changed, ask again") from error


@tracer.capture_method
def describe_clip(owner: str, clip_id: str) -> ClipView:
    logger.append_keys(clip_id=clip_id)
    tracer.put_annotation(key="clip_id", value=clip_id)
    return _view(store.get_owned_clip(clip_id, owner))


@tracer.capture_method
def list_clips(owner: str, video_id: str, *, cursor: str | None, limit: int = DEFAULT_LIMIT) -> ClipPage:
    """The video's clips, newest first; someone else's video answers NotFound like a missing one."""
    logger.append_keys(video_id=video_id)
    video_store.get_owned(video_id, owner)
    clips, next_cursor = store.list_for_video(video_id, limit=limit, cursor=cursor)
    return ClipPage(items=[_view(clip) for clip in clips], next_cursor=next_cursor)


@tracer.capture_method
def delete_clip(owner: str, clip_id: str) -> None:
    """Erase the clip's record and file; NotFound once it is gone (or never was the caller's)."""
    logger.append_keys(clip_id=clip_id)
    tracer.put_annotation(key="clip_id", value=clip_id)
    clip = store.get_owned_clip(clip_id, owner)
    store.delete_clip(clip)
    logger.info("clip deleted", status=clip.status.value)


def _view(clip: Clip) -> ClipView:
    url = None
    if clip.status == ClipStatus.READY:
        key = clip_object_key(clip.video_id, clip.clip_id)
        url = store.presign_download(clip, key, expires_s=DOWNLOAD_URL_EXPIRY_S)
    return rules.view(clip, url)
