"""Videos: the rules, pure functions with no AWS in them.

Uploads: video ids, how long upload URLs live, how a large upload is cut into parts.
Validation: which S3 notifications name an upload, and the verdict on a file from its size,
its first bytes and ffprobe's report, checked against the configured limits.
"""

import json
import math
import re
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from urllib.parse import unquote_plus

from practika.media.probe import PRETENDERS, ProbeReport, Sniffed, Stream, VideoScan
from practika.observability import SecurityEvent
from practika.settings import MIB, S3_MIN_PART_BYTES, ValidationSettings
from practika.videos.model import S3_MAX_PARTS, MediaFacts, Rejection, RejectionCode, S3ObjectRef

_VIDEO_ID = re.compile(r"^[0-9a-f]{32}$")
UPLOADS_PREFIX = "uploads/"
QUARANTINE_PREFIX = "quarantine/"

# A multipart upload of several GB over a slow link outlasts the default 15 minutes: its part URLs
# live long enough for the declared size at this rate, up to MAX_MULTIPART_WINDOW_S. (A presigned
# URL also dies with the credentials that signed it; Lambda's role sessions last hours.)
SLOW_UPLOAD_BYTES_PER_S = 256 * 1024
MAX_MULTIPART_WINDOW_S = 12 * 3600

ALLOWED_VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4"})
ALLOWED_AUDIO_CODECS = frozenset(
    {"aac", "mp3", "opus", "vorbis", "ac3", "eac3", "flac", "alac", "pcm_s16le", "pcm_s24le"}
)


def new_video_id() -> str:
    return uuid.uuid4().hex


def is_video_id(value: str) -> bool:
    return bool(_VIDEO_ID.match(value))


def quarantine_key(key: str) -> str:
    return QUARANTINE_PREFIX + key.removeprefix(UPLOADS_PREFIX)


def upload_window_s(size_bytes: int, multipart: bool, expiry_s: int) -> int:
    """How long the upload URLs stay valid: the configured expiry, longer for large multipart uploads."""
    if not multipart:
        return expiry_s
    return max(expiry_s, min(MAX_MULTIPART_WINDOW_S, math.ceil(size_bytes / SLOW_UPLOAD_BYTES_PER_S)))


def plan_parts(size_bytes: int, preferred_part_bytes: int) -> tuple[int, int]:
    """(part size, part count) covering `size_bytes` within S3's 10,000-part and 5 MiB rules."""
    part_size = max(preferred_part_bytes, S3_MIN_PART_BYTES, math.ceil(size_bytes / S3_MAX_PARTS))
    part_size = math.ceil(part_size / MIB) * MIB
    return part_size, math.ceil(size_bytes / part_size)


def part_sizes(size_bytes: int, part_size: int) -> list[int]:
    """The size of each part, in order: every part `part_size` bytes but the last, which holds the rest.

    Each part URL signs its part's Content-Length, so the parts can add up to the declared size only.
    """
    count = math.ceil(size_bytes / part_size)
    return [part_size] * (count - 1) + [size_bytes - part_size * (count - 1)]


# --- validation ------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Verdict:
    media: MediaFacts | None = None
    rejection: Rejection | None = None
    security_event: SecurityEvent | None = None
    detail: str | None = None

    @property
    def code(self) -> RejectionCode | None:
        return self.rejection.code if self.rejection else None


def reject(
    code: RejectionCode, message: str, security_event: SecurityEvent | None = None, detail: str | None = None
) -> Verdict:
    return Verdict(rejection=Rejection(code=code, message=message), security_event=security_event, detail=detail)


def _mib(value: float) -> str:
    return f"{value / MIB:.1f} MiB"


def check_size(size_bytes: int, declared_bytes: int, limit: int) -> Verdict | None:
    """The cheap checks, before reading a byte of content."""
    if size_bytes > limit:
        return reject(RejectionCode.TOO_LARGE, f"the file is {_mib(size_bytes)}; at most {_mib(limit)} is accepted")
    if size_bytes == 0:
        return reject(RejectionCode.NOT_A_VIDEO, "the file is empty")
    if size_bytes != declared_bytes:
        return reject(
            RejectionCode.SIZE_MISMATCH,
            f"the file has {size_bytes} bytes but {declared_bytes} were announced",
            SecurityEvent.SIZE_MISMATCH,
        )
    return None


def judge_unreadable(sniffed: Sniffed, detail: str) -> Verdict:
    """ffprobe would not open the file with the allowed demuxers: say why, from its first bytes."""
    if sniffed in PRETENDERS:
        return reject(
            RejectionCode.NOT_A_VIDEO,
            f"the file is not a video (it looks like {sniffed.value})",
            SecurityEvent.DISGUISED_MEDIA,
            detail,
        )
    if sniffed == Sniffed.OTHER_VIDEO:
        return reject(
            RejectionCode.UNSUPPORTED_CONTAINER, "the video's container is not MP4, MOV, WebM or MKV", detail=detail
        )
    if sniffed in (Sniffed.ISO_BMFF, Sniffed.QUICKTIME, Sniffed.MATROSKA, Sniffed.WEBM):
        return reject(RejectionCode.CORRUPT, "the file is damaged or incomplete", detail=detail)
    return reject(RejectionCode.NOT_A_VIDEO, "the file is not a video", detail=detail)


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


# A last packet ending this long after the index's duration means the index understates the file;
# this long before the video's own, that the file lacks what the index promises.
LATE_END_SLACK_S = 1.0
EARLY_END_SLACK_S = 1.0


def _index_lie(scan: VideoScan, video: Stream) -> str | None:
    """What the index promises that the packets do not hold (a truncated upload, a forged frame count)."""
    if not scan.whole:
        if scan.keyframes < scan.points:
            return f"{scan.points - scan.keyframes} of {scan.points} sample points decode nothing"
        return None
    if scan.keyframes < max(1, scan.key_packets):
        # (a decoder refuses a frame claiming a picture over tools.max_pixels: nothing is allocated)
        return f"{scan.keyframes} of {scan.key_packets} key frames decode"
    if video.nb_frames and scan.packets < video.nb_frames:
        return f"the index states {video.nb_frames} frames; the file holds {scan.packets}"
    if video.duration and (scan.end_s is None or scan.end_s < video.duration - EARLY_END_SLACK_S):
        return f"the index states {video.duration:.3f} s of video; its packets end at {scan.end_s} s"
    return None


def judge_report(
    report: ProbeReport, sniffed: Sniffed, size_bytes: int, limits: ValidationSettings, scan: VideoScan | None = None
) -> Verdict:
    """Facts from ffprobe's report and the scan of the video's packets, or the first limit they break.

    The index (or header) states one picture size and one duration; `scan` says what the stream
    really holds: every key frame's picture size, and where its last packet ends (the duration of
    a live recording, which states none, or of a file whose last frame is stamped hours later).
    """
    container = container_name(report, sniffed)
    if container is None:
        return reject(RejectionCode.UNSUPPORTED_CONTAINER, "the video's container is not MP4, MOV, WebM or MKV")
    video = video_stream(report)
    if video is None:
        has_audio = any(s.codec_type == "audio" for s in report.streams)
        return reject(
            RejectionCode.NO_VIDEO_STREAM,
            "the file has no video track" + (" (it is an audio file)" if has_audio else ""),
            SecurityEvent.DISGUISED_MEDIA if has_audio else None,
        )
    audio = next((s for s in report.streams if s.codec_type == "audio"), None)
    # Every track, not the first of each kind: a player may pick any of them.
    for stream in report.streams:
        if stream.codec_type == "video" and not stream.is_picture and stream.codec_name not in ALLOWED_VIDEO_CODECS:
            return reject(RejectionCode.UNSUPPORTED_CODEC, f"video codec {stream.codec_name} is not supported")
        if stream.codec_type == "audio" and stream.codec_name not in ALLOWED_AUDIO_CODECS:
            return reject(RejectionCode.UNSUPPORTED_CODEC, f"audio codec {stream.codec_name} is not supported")
    duration = report.format.duration or video.duration or 0.0
    if scan is not None and (lie := _index_lie(scan, video)):
        return reject(RejectionCode.CORRUPT, "the file is damaged or incomplete", detail=lie)
    if scan is not None and scan.end_s is not None and (duration <= 0 or scan.end_s > duration + LATE_END_SLACK_S):
        duration = scan.end_s
    width, height, fps = video.width or 0, video.height or 0, _fps(video)
    if scan is not None and scan.whole and scan.end_s and video.avg_frame_rate in (None, "0/0"):
        # A live recording states no average rate, and its guessed r_frame_rate follows the first
        # few (irregular) timestamps: count the frames instead.
        fps = round(scan.packets / scan.end_s, 3)
    if duration <= 0 or width <= 0 or height <= 0 or fps <= 0:
        return reject(RejectionCode.CORRUPT, "the video has no readable duration, picture size or frame rate")
    if duration > limits.max_duration_s:
        return reject(RejectionCode.TOO_LONG, f"the video lasts {duration:.1f} s; at most {limits.max_duration_s:g} s")
    sizes = {(width, height), *(scan.sizes if scan else ())}
    largest = max(sizes, key=lambda size: (max(size), min(size)))
    if abs(video.rotation) % 180 == 90:
        width, height = height, width
    # Limits are orientation-free: a portrait 1080x1920 passes where 1920x1080 does.
    long_limit, short_limit = max(limits.max_width, limits.max_height), min(limits.max_width, limits.max_height)
    if max(largest) > long_limit or min(largest) > short_limit:
        part_way = "" if largest == (video.width, video.height) else " part-way"
        return reject(
            RejectionCode.RESOLUTION_TOO_HIGH,
            f"the video is {largest[0]}x{largest[1]}{part_way}; at most {limits.max_width}x{limits.max_height}"
            " (either orientation)",
        )
    if fps > limits.max_fps:
        return reject(
            RejectionCode.FRAME_RATE_TOO_HIGH, f"the video has {fps:g} frames a second; at most {limits.max_fps:g}"
        )
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
