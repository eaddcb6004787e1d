"""Clips: the rules of a request, pure functions with no AWS in them.

A clip is identified by what was asked for: (video, start, end, mode) rounded to the
millisecond. Asking twice gives the same id, so the table's conditional write decides which
request creates it and the other answers with the existing clip: never two cuts.
"""

import hashlib
import re
from datetime import datetime, timedelta

from practika import clock
from practika.clips.model import Clip, ClipErrorCode, ClipRange, ClipRequest, ClipStatus, ClipView
from practika.errors import ClipTooLong, ClipTooShort, InvalidClipRange, RangeBeyondVideo, VideoNotReady
from practika.settings import ClipSettings
from practika.videos.model import Video, VideoStatus

# A queued clip older than this whose job may have been lost is queued again on a repeated request.
REQUEUE_AFTER = timedelta(minutes=5)


def checked_request(request: ClipRequest, video: Video, settings: ClipSettings) -> ClipRange:
    """The request with its times rounded to the millisecond, if the video is ready and the range fits it."""
    if video.status != VideoStatus.READY or video.media is None:
        raise VideoNotReady("the video is not ready for clips", details={"status": video.status})
    start, end = round(request.start_s, 3), round(request.end_s, 3)
    duration = round(video.media.duration_s, 3)
    facts = {"start_s": start, "end_s": end, "video_duration_s": duration}
    if start >= end:
        raise InvalidClipRange("start_s must be before end_s", details=facts)
    if end > duration:
        raise RangeBeyondVideo("the range ends after the video", details=facts)
    length = round(end - start, 3)
    if length < settings.min_clip_seconds:
        raise ClipTooShort("the clip is too short", details={**facts, "min_s": settings.min_clip_seconds})
    if length > settings.max_clip_seconds:
        raise ClipTooLong("the clip is too long", details={**facts, "max_s": settings.max_clip_seconds})
    return ClipRange(start_s=start, end_s=end, mode=request.mode)


def clip_id_for(video_id: str, request: ClipRange) -> str:
    """Deterministic id of a (checked, rounded) request: the same clip asked twice has one id."""
    start_ms, end_ms = round(request.start_s * 1000), round(request.end_s * 1000)
    digest = hashlib.sha256(f"{video_id}|{start_ms}|{end_ms}|{request.mode.value}".encode()).hexdigest()
    return digest[:32]


def download_filename(video_filename: str, request: ClipRange) -> str:
    """A safe ASCII file name for Content-Disposition, e.g. `holiday-clip-12.5-20.mp4`."""
    stem = video_filename.rsplit(".", 1)[0] if "." in video_filename else video_filename
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:80] or "video"
    return f"{stem}-clip-{request.start_s:g}-{request.end_s:g}.mp4"


def new_clip(video: Video, request: ClipRange) -> Clip:
    created = clock.iso_millis()
    return Clip(
        clip_id=clip_id_for(video.video_id, request),
        video_id=video.video_id,
        owner=video.owner,
        status=ClipStatus.QUEUED,
        requested=request,
        filename=download_filename(video.filename, request),
        created_at=created,
        updated_at=created,
    )


# Failures that say nothing about the request (S3 or the network were down, time ran out): the
# same clip asked for again is cut again. Failures of the media itself stay final.
RETRYABLE_FAILURES = frozenset(
    {ClipErrorCode.TIMEOUT, ClipErrorCode.SOURCE_UNREACHABLE, ClipErrorCode.STORAGE_ERROR, ClipErrorCode.TOOL_CRASH}
)


def needs_requeue(clip: Clip, now: datetime) -> bool:
    """A clip still queued long after its last change: its job may never have reached the queue."""
    return clip.status == ClipStatus.QUEUED and now - datetime.fromisoformat(clip.updated_at) > REQUEUE_AFTER


def can_retry(clip: Clip) -> bool:
    """A clip that failed for a passing reason, asked for again."""
    return clip.status == ClipStatus.FAILED and clip.error is not None and clip.error.code in RETRYABLE_FAILURES


def view(clip: Clip, download_url: str | None = None) -> ClipView:
    return ClipView(
        clip_id=clip.clip_id,
        video_id=clip.video_id,
        status=clip.status,
        requested=clip.requested,
        actual=clip.actual,
        download_url=download_url,
        error=clip.error,
        method=clip.method,
    )
