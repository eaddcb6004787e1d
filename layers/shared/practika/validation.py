"""Validation of an uploaded object: from its bytes to `ready` with media facts or `rejected` with a code.

Nothing a client said is trusted: not the file name, not the content type, not the declared
size. The verdict comes from the first bytes (sniffing), ffprobe's reading of the container
index over a presigned GET, and a bounded decode sample, checked against configured limits.
"""

import json
import time
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any, Literal
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from pydantic import Field

from practika import uploads, video_store
from practika.media import tools
from practika.media.probe import (
    PRETENDERS,
    ProbeCrashed,
    ProbeFailed,
    ProbeReport,
    Sniffed,
    Stream,
    decoded_frames,
    probe,
    sniff,
)
from practika.models import MediaFacts, Rejection, VideoStatus
from practika.observability import (
    NAMESPACE,
    MetricName,
    SecurityEvent,
    log_security_event,
    logger,
    metrics,
    tracer,
)
from practika.settings import EnvSettings

ALLOWED_VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4"})
ALLOWED_AUDIO_CODECS = frozenset(
    {"aac", "mp3", "opus", "vorbis", "ac3", "eac3", "flac", "alac", "pcm_s16le", "pcm_s24le"}
)
# Below this much time a probe could not finish fairly: the message is retried instead of the
# video being rejected for our lack of time.
MIN_PROBE_BUDGET_S = 3.0
TAIL_SAMPLE_S = 1.0


class ValidationSettings(EnvSettings):
    uploads_bucket: str
    max_upload_bytes: int = Field(default=uploads.UploadSettings.model_fields["max_upload_bytes"].default, gt=0)
    max_duration_s: float = Field(default=3600.0, gt=0)
    max_width: int = Field(default=3840, gt=0)
    max_height: int = Field(default=2160, gt=0)
    max_fps: float = Field(default=120.0, gt=0)
    rejected_objects: Literal["quarantine", "delete"] = "quarantine"
    probe_timeout_s: float = Field(default=120.0, gt=0)


@cache
def validation_settings() -> ValidationSettings:
    return ValidationSettings.from_env()


class NotEnoughTime(Exception):
    """Too little Lambda time is left to probe fairly; the message is retried."""


# A crashed ffprobe says nothing about the file: the message is retried, and only a file that
# crashes it on this many deliveries (fewer than IngestQueue's maxReceiveCount) is rejected.
CRASH_ATTEMPTS = 3


@dataclass(frozen=True)
class Verdict:
    media: MediaFacts | None = None
    rejection: Rejection | None = None
    security_event: SecurityEvent | None = None
    detail: str | None = None

    @property
    def code(self) -> str | None:
        return self.rejection.code if self.rejection else None


def reject(code: str, message: str, security_event: SecurityEvent | None = None, detail: str | None = None) -> Verdict:
    return Verdict(rejection=Rejection(code=code, message=message), security_event=security_event, detail=detail)


@dataclass(frozen=True)
class S3ObjectRef:
    bucket: str
    key: str
    event_name: str
    size_bytes: int | None = None
    etag: str | None = None


def s3_objects(body: str) -> list[S3ObjectRef]:
    """Created objects named in one SQS message body carrying an S3 notification.

    Keys arrive URL-encoded (spaces as '+', '/' possibly as '%2F', UTF-8 percent-encoded).
    `s3:TestEvent` (sent when notifications are configured) names none. Only the fields moto
    also sends are required: the rest of AWS's record shape is optional here.
    """
    message: dict[str, Any] = json.loads(body)
    if message.get("Type") == "Notification" and "Message" in message:  # delivered through SNS
        message = json.loads(message["Message"])
    if message.get("Event") == "s3:TestEvent":
        return []
    refs = []
    for record in message.get("Records") or []:
        name = str(record.get("eventName", ""))
        if not name.startswith("ObjectCreated"):
            continue
        s3 = record["s3"]
        obj = s3["object"]
        refs.append(
            S3ObjectRef(
                bucket=s3["bucket"]["name"],
                key=unquote_plus(obj["key"]),
                event_name=name,
                size_bytes=obj.get("size"),
                etag=obj.get("eTag"),
            )
        )
    return refs


def _mib(value: float) -> str:
    return f"{value / (1024 * 1024):.1f} MiB"


def check_size(size_bytes: int, declared_bytes: int, limit: int) -> Verdict | None:
    """The cheap checks, before reading a byte of content."""
    if size_bytes > limit:
        return reject("too_large", f"the file is {_mib(size_bytes)}; at most {_mib(limit)} is accepted")
    if size_bytes == 0:
        return reject("not_a_video", "the file is empty")
    if size_bytes != declared_bytes:
        return reject(
            "size_mismatch",
            f"the file has {size_bytes} bytes but {declared_bytes} were announced",
            SecurityEvent.SIZE_MISMATCH,
        )
    return None


def judge_unreadable(sniffed: Sniffed, detail: str) -> Verdict:
    """ffprobe would not open the file with the allowed demuxers: say why, from its first bytes."""
    if sniffed in PRETENDERS:
        return reject(
            "not_a_video",
            f"the file is not a video (it looks like {sniffed.value})",
            SecurityEvent.DISGUISED_MEDIA,
            detail,
        )
    if sniffed == Sniffed.OTHER_VIDEO:
        return reject("unsupported_container", "the video's container is not MP4, MOV, WebM or MKV", detail=detail)
    if sniffed in (Sniffed.ISO_BMFF, Sniffed.QUICKTIME, Sniffed.MATROSKA, Sniffed.WEBM):
        return reject("corrupt", "the file is damaged or incomplete", detail=detail)
    return reject("not_a_video", "the file is not a video", detail=detail)


def container_name(report: ProbeReport, sniffed: Sniffed) -> str | None:
    names = report.format.format_name.split(",")
    if "matroska" in names or "webm" in names:
        return "webm" if sniffed == Sniffed.WEBM else "mkv"
    if "mov" in names or "mp4" in names:
        brand = report.format.tags.get("major_brand", "").strip()
        return "mov" if brand == "qt" or sniffed == Sniffed.QUICKTIME else "mp4"
    return None


def _fps(stream: Stream) -> float:
    for rate in (stream.avg_frame_rate, stream.r_frame_rate):
        try:
            value = Fraction(rate or "0/0")
        except (ValueError, ZeroDivisionError):
            continue
        if value > 0:
            return round(float(value), 3)
    return 0.0


def video_stream(report: ProbeReport) -> Stream | None:
    return next((s for s in report.streams if s.codec_type == "video" and not s.is_picture), None)


def judge_report(report: ProbeReport, sniffed: Sniffed, size_bytes: int, limits: ValidationSettings) -> Verdict:
    """Facts from ffprobe's report, or the first limit they break."""
    container = container_name(report, sniffed)
    if container is None:
        return reject("unsupported_container", "the video's container is not MP4, MOV, WebM or MKV")
    video = video_stream(report)
    if video is None:
        has_audio = any(s.codec_type == "audio" for s in report.streams)
        return reject(
            "no_video_stream",
            "the file has no video track" + (" (it is an audio file)" if has_audio else ""),
            SecurityEvent.DISGUISED_MEDIA if has_audio else None,
        )
    audio = next((s for s in report.streams if s.codec_type == "audio"), None)
    if video.codec_name not in ALLOWED_VIDEO_CODECS:
        return reject("unsupported_codec", f"video codec {video.codec_name} is not supported")
    if audio is not None and audio.codec_name not in ALLOWED_AUDIO_CODECS:
        return reject("unsupported_codec", f"audio codec {audio.codec_name} is not supported")
    duration = report.format.duration or video.duration or 0.0
    width, height, fps = video.width or 0, video.height or 0, _fps(video)
    if duration <= 0 or width <= 0 or height <= 0 or fps <= 0:
        return reject("corrupt", "the video has no readable duration, picture size or frame rate")
    if duration > limits.max_duration_s:
        return reject("too_long", f"the video lasts {duration:.1f} s; at most {limits.max_duration_s:g} s")
    if abs(video.rotation) % 180 == 90:
        width, height = height, width
    # Limits are orientation-free: a portrait 1080x1920 passes where 1920x1080 does.
    long_limit, short_limit = max(limits.max_width, limits.max_height), min(limits.max_width, limits.max_height)
    if max(width, height) > long_limit or min(width, height) > short_limit:
        return reject(
            "resolution_too_high",
            f"the video is {width}x{height}; at most {limits.max_width}x{limits.max_height} (either orientation)",
        )
    if fps > limits.max_fps:
        return reject("frame_rate_too_high", f"the video has {fps:g} frames a second; at most {limits.max_fps:g}")
    return Verdict(
        media=MediaFacts(
            container=container,
            duration_s=round(duration, 3),
            size_bytes=size_bytes,
            width=width,
            height=height,
            fps=fps,
            video_codec=str(video.codec_name),
            audio_codec=audio.codec_name if audio else None,
        )
    )


def _count_failure(code: str) -> None:
    with single_metric(
        name=MetricName.VALIDATION_FAILURES,
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        if metrics.service:
            metric.add_dimension(name="service", value=str(metrics.service))
        metric.add_dimension(name="reason", value=code)


class _Deadline:
    def __init__(self, budget_s: float) -> None:
        self.ends = time.monotonic() + budget_s

    def left(self) -> float:
        return self.ends - time.monotonic()


@tracer.capture_method
def inspect(bucket: str, key: str, size_bytes: int, budget_s: float, attempt: int = 1) -> Verdict:
    """Sniff, probe and sample-decode the object; every ffprobe run shares one deadline.

    `attempt` is the message's delivery count: a crash of ffprobe is retried until CRASH_ATTEMPTS.
    """
    limits = validation_settings()
    deadline = _Deadline(budget_s)
    sniffed = sniff(uploads.read_first_bytes(bucket, key))
    url = uploads.presign_probe_url(bucket, key, int(budget_s) + 30)
    try:
        report = probe(url, deadline.left())
        metrics.add_metric(name=MetricName.PROBE_MS, unit="Milliseconds", value=report.probe_ms)
        verdict = judge_report(report, sniffed, size_bytes, limits)
        stream = video_stream(report)
        if verdict.media is None or stream is None:
            return verdict
        # ffprobe already decoded the first frames to learn the codec parameters; the tail is what a
        # truncated upload lacks while its index still promises it.
        tail_at = max(0.0, verdict.media.duration_s - TAIL_SAMPLE_S)
        if decoded_frames(url, tail_at, deadline.left(), stream.index) == 0:
            return reject("corrupt", "the file is damaged or incomplete", detail=f"no frame decodes at {tail_at}s")
    except ProbeFailed as failed:
        return judge_unreadable(sniffed, failed.detail)
    except ProbeCrashed as crashed:
        if attempt < CRASH_ATTEMPTS:
            raise
        return reject("corrupt", "the file could not be read", SecurityEvent.TOOL_CRASH, detail=str(crashed))
    except tools.ToolTimeout as timeout:
        return reject("probe_timeout", "the file could not be read in time", detail=str(timeout))
    return verdict


def _time_budget(remaining_ms: int) -> float:
    budget = min(validation_settings().probe_timeout_s, tools.time_budget_s(remaining_ms))
    if budget < MIN_PROBE_BUDGET_S:
        raise NotEnoughTime(f"{budget:.1f}s left")
    return budget


def _move_out(ref: S3ObjectRef) -> None:
    target = uploads.move_out_of_uploads(ref.bucket, ref.key, validation_settings().rejected_objects)
    logger.info("rejected object moved", key=ref.key, to=target or "deleted")


def _unknown_upload(ref: S3ObjectRef) -> str:
    if uploads.head_upload(ref.bucket, ref.key) is None:
        return "gone"
    log_security_event(SecurityEvent.UNKNOWN_UPLOAD, "object without an upload", key=ref.key)
    _count_failure("unknown_upload")
    _move_out(ref)
    return "unknown_upload"


def _settle_stale(ref: S3ObjectRef, stored: video_store.StoredVideo) -> str:
    """An event for a video already decided: change nothing, but finish a rejection's cleanup."""
    found = uploads.head_upload(ref.bucket, ref.key)
    status = stored.video.status
    if found is not None and status == VideoStatus.REJECTED:
        _move_out(ref)
    elif found is not None and status == VideoStatus.READY and found.etag != stored.object_etag:
        # The POST policy stays usable until it expires: someone wrote the key again after validation.
        log_security_event(SecurityEvent.OBJECT_REPLACED, "validated object replaced", key=ref.key, etag=found.etag)
    logger.info("stale event ignored", status=status.value)
    return "stale"


@tracer.capture_method
def validate_object(ref: S3ObjectRef, remaining_ms: int, attempt: int = 1) -> str:
    """Decide one created object; returns what happened ("ready", a rejection code, "stale", "gone"...)."""
    settings = validation_settings()
    if ref.bucket != settings.uploads_bucket or not ref.key.startswith(uploads.UPLOADS_PREFIX):
        logger.warning("object outside uploads ignored", bucket=ref.bucket, key=ref.key)
        return "ignored"
    video_id = ref.key.removeprefix(uploads.UPLOADS_PREFIX)
    stored = video_store.get_video(video_id) if uploads.is_video_id(video_id) else None
    if stored is None:
        return _unknown_upload(ref)
    logger.append_keys(video_id=video_id)
    tracer.put_annotation(key="video_id", value=video_id)
    budget_s = _time_budget(remaining_ms)
    begun = video_store.begin_validation(video_id)
    if begun is None:
        return _settle_stale(ref, stored)
    stored, first = begun
    found = uploads.head_upload(ref.bucket, ref.key)
    if found is None:
        logger.info("object already gone")
        return "gone"
    if first:
        metrics.add_metric(name=MetricName.VIDEO_UPLOADS, unit="Count", value=1)
        metrics.add_metric(name=MetricName.UPLOAD_BYTES, unit="Bytes", value=found.size_bytes)
    verdict = check_size(found.size_bytes, stored.video.size_bytes, settings.max_upload_bytes) or inspect(
        ref.bucket, ref.key, found.size_bytes, budget_s, attempt
    )
    if verdict.media is not None:
        if video_store.mark_ready(video_id, verdict.media, found.etag):
            logger.info("video ready", **verdict.media.model_dump())
            return "ready"
        return "stale"
    assert verdict.rejection is not None
    if not video_store.mark_rejected(video_id, verdict.rejection, found.etag):
        return "stale"
    code = verdict.rejection.code
    _count_failure(code)
    if verdict.security_event is not None:
        log_security_event(verdict.security_event, "video rejected", reason=code, detail=verdict.detail)
    else:
        logger.info("video rejected", reason=code, detail=verdict.detail)
    _move_out(ref)
    return code
