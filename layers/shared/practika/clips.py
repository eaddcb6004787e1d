"""Clips: the request and its range rules, the clip id, the record, and the job the worker runs.

A clip is identified by what was asked for: (video, start, end, mode) rounded to the
millisecond. Asking twice gives the same id, so the table's conditional write decides which
request creates it and the other answers with the existing clip: never two cuts.
"""

import hashlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from practika import clip_store
from practika.errors import ClipTooLong, ClipTooShort, InvalidClipRange, RangeBeyondVideo, VideoNotReady
from practika.media import tools
from practika.media.cut import CutError, cut_clip
from practika.models import (
    Clip,
    ClipError,
    ClipMode,
    ClipRange,
    ClipStatus,
    ClipTimes,
    Video,
    VideoStatus,
    clip_object_key,
)
from practika.observability import NAMESPACE, MetricName, SecurityEvent, log_security_event, logger, metrics, tracer
from practika.settings import EnvSettings

# The worker marks a clip failed on this delivery at the latest, so the clip tells the user why
# before the queue's redrive policy (maxReceiveCount above this) parks the message in the DLQ.
MAX_ATTEMPTS = 3
# Seconds kept back from the Lambda's remaining time for the upload and the final status write.
WORKER_MARGIN_S = 20.0
# A queued clip older than this whose job may have been lost is queued again on a repeated request.
REQUEUE_AFTER = timedelta(minutes=5)


class ClipSettings(EnvSettings):
    """The clip API's configuration (template parameters MinClipSeconds, MaxClipSeconds, MaxClipsPerDay)."""

    clip_queue_url: str
    min_clip_seconds: float = 1.0
    max_clip_seconds: float = 300.0
    max_clips_per_day: int = 100


@cache
def clip_settings() -> ClipSettings:
    return ClipSettings.from_env()


class ClipRequest(BaseModel):
    """Body of POST /videos/{id}/clips."""

    model_config = ConfigDict(extra="forbid")

    start_s: float = Field(ge=0, allow_inf_nan=False, description="start, seconds from the video's start")
    end_s: float = Field(gt=0, allow_inf_nan=False, description="end, seconds (exclusive)")
    mode: ClipMode = Field(description="fast: stream copy from a key frame; accurate: frame-exact re-encode")


class ClipView(BaseModel):
    """What GET /clips/{id} and POST /videos/{id}/clips answer (DESIGN.md interface table)."""

    clip_id: str
    video_id: str
    status: ClipStatus
    requested: ClipRange
    actual: ClipTimes | None = None
    download_url: str | None = None
    error: ClipError | None = None


class ClipJob(BaseModel):
    """Body of a clip queue message: only the id; the worker reads the rest from the record."""

    clip_id: str


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


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
    created = now_iso()
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
RETRYABLE_FAILURES = frozenset({"timeout", "source_unreachable", "storage_error"})


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
    )


class ClipRetry(Exception):
    """A transient failure: the record is reported failed to SQS so the message comes back."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def count(name: MetricName, dimension: str, value: str) -> None:
    """A count with its own dimension (mode, error code) on top of service and environment."""
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name=dimension, value=value)


@tracer.capture_method
def process_clip(clip_id: str, *, attempt: int, remaining_ms: Callable[[], int]) -> Clip | None:
    """Run one clip job: processing -> cut -> upload -> ready, or failed with a code.

    Transient failures are raised (the queue redelivers) until the last attempt, which marks
    the clip failed; deterministic ones mark it failed at once. A clip already ready or failed
    is left alone, so a redelivered message never cuts twice.
    """
    budget_s = tools.time_budget_s(remaining_ms(), margin_s=WORKER_MARGIN_S)
    clip = clip_store.start_processing(clip_id, lease_s=budget_s + WORKER_MARGIN_S)
    if clip is None:
        logger.info("clip already finished")
        return None
    tracer.put_annotation(key="video_id", value=clip.video_id)
    logger.append_keys(video_id=clip.video_id)
    started = time.perf_counter()
    try:
        source_url = clip_store.presign_source(clip.video_id, expires_s=int(budget_s) + 60)
        with cut_clip(
            source_url,
            start_s=clip.requested.start_s,
            end_s=clip.requested.end_s,
            mode=clip.requested.mode.value,
            timeout_s=budget_s,
        ) as result:
            clip_store.upload_clip(result.path, clip_object_key(clip.video_id, clip_id))
    except CutError as error:
        return _failed(clip, error.code, error.message, transient=error.transient, attempt=attempt)
    except clip_store.SourceMissing as missing:
        return _failed(clip, "source_missing", str(missing), transient=False, attempt=attempt)
    except clip_store.SourceReplaced as replaced:
        log_security_event(SecurityEvent.OBJECT_REPLACED, "clip source replaced after validation")
        return _failed(clip, "source_replaced", str(replaced), transient=False, attempt=attempt)
    except (ClientError, BotoCoreError, Boto3Error) as error:
        # Boto3Error: upload_file wraps a failed PutObject in S3UploadFailedError, which is neither of
        # the others; left uncaught it kept the lease and the clip stuck in `processing` until the DLQ.
        return _failed(clip, "storage_error", type(error).__name__, transient=True, attempt=attempt)
    actual = ClipTimes(start_s=result.start_s, end_s=result.end_s, duration_s=result.duration_s)
    done = clip_store.mark_ready(clip_id, actual, result.size_bytes)
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    metrics.add_metric(name=MetricName.CLIP_DURATION_SECONDS, unit="Seconds", value=actual.duration_s)
    metrics.add_metric(name=MetricName.CLIP_PROCESSING_MS, unit="Milliseconds", value=elapsed_ms)
    if result.source_bytes_read is not None:
        metrics.add_metric(name=MetricName.CLIP_SOURCE_BYTES_READ, unit="Bytes", value=result.source_bytes_read)
    logger.info(
        "clip ready",
        duration_s=actual.duration_s,
        start_s=actual.start_s,
        processing_ms=elapsed_ms,
        size_bytes=result.size_bytes,
        source_bytes_read=result.source_bytes_read,
    )
    return done


def _failed(clip: Clip, code: str, message: str, *, transient: bool, attempt: int) -> Clip:
    if transient and attempt < MAX_ATTEMPTS:
        logger.warning("clip attempt failed, will retry", error_code=code, attempt=attempt)
        clip_store.release(clip.clip_id)
        raise ClipRetry(code, message)
    logger.error("clip failed", error_code=code, attempt=attempt, transient=transient)
    failed = clip_store.mark_failed(clip.clip_id, ClipError(code=code, message=message))
    count(MetricName.CLIP_FAILURES, "code", code)
    return failed
