"""Uploads: what a client may ask for, the presigned POST or multipart plan it gets, and per-user quotas.

The server chooses the key (`uploads/<video_id>`); the client only ever gets URLs for it. A
presigned POST's policy pins the bucket, the key, the Content-Type and a content-length-range
up to the declared size. Above the multipart threshold the client gets one presigned URL per
part instead and calls `POST /videos/{id}/complete` at the end.
"""

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, field_validator

from practika import aws, video_store
from practika.errors import Conflict, InvalidRequest, NotFound, QuotaExceeded
from practika.models import MediaFacts, Rejection, Video, VideoStatus, upload_object_key
from practika.observability import MetricName, SecurityEvent, log_security_event, logger, metrics, tracer
from practika.settings import EnvSettings, storage_settings

MIB = 1024 * 1024
GIB = 1024 * MIB
S3_MIN_PART_BYTES = 5 * MIB
S3_MAX_PARTS = 10_000
ALLOWED_CONTENT_TYPES = ("video/mp4", "video/quicktime", "video/webm", "video/x-matroska", "video/x-m4v")
_VIDEO_ID = re.compile(r"^[0-9a-f]{32}$")


class UploadSettings(EnvSettings):
    max_upload_bytes: int = Field(default=5 * GIB, gt=0)
    multipart_threshold_bytes: int = Field(default=100 * MIB, gt=0)
    multipart_part_bytes: int = Field(default=64 * MIB, ge=S3_MIN_PART_BYTES)
    upload_url_expiry_s: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    max_pending_uploads: int = Field(default=10, ge=1)
    max_upload_bytes_per_day: int = Field(default=50 * GIB, gt=0)


@cache
def upload_settings() -> UploadSettings:
    return UploadSettings.from_env()


def new_video_id() -> str:
    return uuid.uuid4().hex


def is_video_id(value: str) -> bool:
    return bool(_VIDEO_ID.match(value))


class CreateVideoRequest(BaseModel):
    filename: Annotated[str, Field(min_length=1, max_length=255)]
    content_type: Literal["video/mp4", "video/quicktime", "video/webm", "video/x-matroska", "video/x-m4v"]
    size_bytes: Annotated[int, Field(ge=1)]

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        value = value.strip()
        if not value or any(ch in value for ch in "/\\") or any(not ch.isprintable() for ch in value):
            raise ValueError("a file name without path separators or control characters")
        return value

    @field_validator("size_bytes")
    @classmethod
    def _within_limit(cls, value: int) -> int:
        limit = upload_settings().max_upload_bytes
        if value > limit:
            raise ValueError(f"at most {limit} bytes")
        return value


class CompletedPart(BaseModel):
    part_number: Annotated[int, Field(ge=1, le=S3_MAX_PARTS)]
    etag: Annotated[str, Field(min_length=1, max_length=128)]


class CompleteUploadRequest(BaseModel):
    parts: Annotated[list[CompletedPart], Field(min_length=1, max_length=S3_MAX_PARTS)]


class PostUpload(BaseModel):
    method: Literal["POST"] = "POST"
    url: str
    fields: dict[str, str]
    expires_at: str


class PartUrl(BaseModel):
    part_number: int
    url: str


class MultipartUpload(BaseModel):
    method: Literal["MULTIPART"] = "MULTIPART"
    upload_id: str
    part_size: int
    parts: list[PartUrl]
    expires_at: str


class VideoView(BaseModel):
    """A video as the API shows it (DESIGN.md interface table)."""

    video_id: str
    status: VideoStatus
    filename: str
    created_at: str
    updated_at: str
    media: MediaFacts | None = None
    rejection: Rejection | None = None

    @classmethod
    def of(cls, video: Video) -> "VideoView":
        return cls.model_validate(video.model_dump(include=set(cls.model_fields)))


class CreatedVideo(VideoView):
    upload: PostUpload | MultipartUpload


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# A multipart upload of several GB over a slow link outlasts the default 15 minutes: its part URLs
# live long enough for the declared size at this rate, up to MAX_MULTIPART_WINDOW_S. (A presigned
# URL also dies with the credentials that signed it; Lambda's role sessions last hours.)
SLOW_UPLOAD_BYTES_PER_S = 256 * 1024
MAX_MULTIPART_WINDOW_S = 12 * 3600


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


@tracer.capture_method
def presign_post(key: str, content_type: str, size_bytes: int, expiry_s: int) -> dict[str, Any]:
    """A presigned POST whose policy allows exactly this key, this Content-Type and at most the declared size."""
    bucket = storage_settings().uploads_bucket
    return aws.client("s3").generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[
            {"Content-Type": content_type},
            ["content-length-range", 1, size_bytes],
        ],
        ExpiresIn=expiry_s,
    )


@tracer.capture_method
def start_multipart(key: str, content_type: str, part_count: int, expiry_s: int) -> tuple[str, list[PartUrl]]:
    s3 = aws.client("s3")
    bucket = storage_settings().uploads_bucket
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)["UploadId"]
    urls = [
        PartUrl(
            part_number=number,
            url=s3.generate_presigned_url(
                "upload_part",
                Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number},
                ExpiresIn=expiry_s,
            ),
        )
        for number in range(1, part_count + 1)
    ]
    return upload_id, urls


def _refuse_quota(owner: str, reason: str, message: str, **facts: object) -> QuotaExceeded:
    log_security_event(SecurityEvent.QUOTA_EXCEEDED, "upload quota exceeded", owner=owner, quota=reason, **facts)
    return QuotaExceeded(message, details={"quota": reason, **facts})


@tracer.capture_method
def create_upload(owner: str, request: CreateVideoRequest, now: datetime | None = None) -> CreatedVideo:
    """Reserve a video for `owner` and hand out the URLs to upload its bytes."""
    settings = upload_settings()
    now = now or datetime.now(UTC)
    multipart = request.size_bytes > settings.multipart_threshold_bytes
    window_s = upload_window_s(request.size_bytes, multipart, settings.upload_url_expiry_s)
    expires = now + timedelta(seconds=window_s)
    pending = video_store.count_pending_uploads(owner, int(now.timestamp()))
    if pending >= settings.max_pending_uploads:
        raise _refuse_quota(
            owner, "pending_uploads", "too many uploads are waiting for their file", limit=settings.max_pending_uploads
        )
    video_id = new_video_id()
    key = upload_object_key(video_id)
    logger.append_keys(video_id=video_id)
    tracer.put_annotation(key="video_id", value=video_id)
    video = Video(
        video_id=video_id,
        owner=owner,
        status=VideoStatus.AWAITING_UPLOAD,
        filename=request.filename,
        content_type=request.content_type,
        size_bytes=request.size_bytes,
        created_at=_iso(now),
        updated_at=_iso(now),
    )
    upload: PostUpload | MultipartUpload
    upload_id: str | None = None
    if multipart:
        part_size, part_count = plan_parts(request.size_bytes, settings.multipart_part_bytes)
        upload_id, parts = start_multipart(key, request.content_type, part_count, window_s)
        upload = MultipartUpload(upload_id=upload_id, part_size=part_size, parts=parts, expires_at=_iso(expires))
    else:
        post = presign_post(key, request.content_type, request.size_bytes, settings.upload_url_expiry_s)
        upload = PostUpload(url=post["url"], fields=post["fields"], expires_at=_iso(expires))
    try:
        video_store.create_video(
            video,
            upload_id=upload_id,
            pending_until=int(expires.timestamp()),
            day=now.date().isoformat(),
            max_bytes_per_day=settings.max_upload_bytes_per_day,
        )
    except video_store.DailyBytesExceeded:
        if upload_id:
            abort_multipart(key, upload_id)
        raise _refuse_quota(
            owner, "bytes_per_day", "the daily upload volume is used up", limit=settings.max_upload_bytes_per_day
        ) from None
    metrics.add_metric(name=MetricName.VIDEO_UPLOAD_REQUESTS, unit="Count", value=1)
    logger.info("upload issued", method=upload.method, size_bytes=request.size_bytes)
    return CreatedVideo(**VideoView.of(video).model_dump(), upload=upload)


def abort_multipart(key: str, upload_id: str) -> None:
    try:
        aws.client("s3").abort_multipart_upload(Bucket=storage_settings().uploads_bucket, Key=key, UploadId=upload_id)
    except ClientError as error:
        logger.warning("multipart abort failed", error=error.response.get("Error", {}).get("Code"))


def _owned(owner: str, video_id: str) -> Video:
    if not is_video_id(video_id):
        raise NotFound("no such video", details={"video_id": video_id})
    return video_store.get_owned_video(video_id, owner)


@tracer.capture_method
def describe_video(owner: str, video_id: str) -> VideoView:
    return VideoView.of(_owned(owner, video_id))


@tracer.capture_method
def complete_upload(owner: str, video_id: str, request: CompleteUploadRequest) -> VideoView:
    """Assemble the parts of a multipart upload; repeating the call after success answers the same."""
    video = _owned(owner, video_id)
    logger.append_keys(video_id=video_id)
    tracer.put_annotation(key="video_id", value=video_id)
    upload_id = video_store.upload_id_of(video_id)
    if upload_id is None:
        raise Conflict("this video was not uploaded in parts", details={"video_id": video_id})
    if video.status != VideoStatus.AWAITING_UPLOAD:
        return VideoView.of(video)
    numbers = [part.part_number for part in request.parts]
    if numbers != list(range(1, len(numbers) + 1)):
        raise InvalidRequest("parts must be numbered 1..N in order, each once", details={"part_numbers": numbers})
    key = upload_object_key(video_id)
    try:
        aws.client("s3").complete_multipart_upload(
            Bucket=storage_settings().uploads_bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p.part_number, "ETag": p.etag} for p in request.parts]},
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "NoSuchUpload":
            if _object_exists(key):
                return VideoView.of(video_store.get_owned_video(video_id, owner))
            raise Conflict("the upload expired or was aborted", details={"video_id": video_id}) from None
        if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
            raise InvalidRequest("the parts do not match the uploaded ones", details={"s3_error": code}) from None
        raise
    logger.info("multipart upload completed", parts=len(numbers))
    return VideoView.of(video_store.get_owned_video(video_id, owner))


def _object_exists(key: str) -> bool:
    try:
        aws.client("s3").head_object(Bucket=storage_settings().uploads_bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


# --- the uploaded object, as the validate worker sees it ---------------------------------------

QUARANTINE_PREFIX = "quarantine/"
UPLOADS_PREFIX = "uploads/"
SNIFF_BYTES = 4096


@dataclass(frozen=True)
class ObjectInfo:
    size_bytes: int
    etag: str


@tracer.capture_method
def head_upload(bucket: str, key: str) -> ObjectInfo | None:
    """Size and ETag of the object, or None when it is gone (moved away by an earlier delivery)."""
    try:
        head = aws.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return ObjectInfo(size_bytes=int(head["ContentLength"]), etag=str(head["ETag"]).strip('"'))


@tracer.capture_method
def read_first_bytes(bucket: str, key: str, count: int = SNIFF_BYTES) -> bytes:
    answer = aws.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{count - 1}")
    return answer["Body"].read(count)


def presign_probe_url(bucket: str, key: str, expiry_s: int) -> str:
    """A short-lived GET for ffprobe; the content type is forced so no stored type can steer a demuxer."""
    return aws.client("s3").generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": key, "ResponseContentType": "application/octet-stream"},
        ExpiresIn=max(60, expiry_s),
    )


def quarantine_key(key: str) -> str:
    return QUARANTINE_PREFIX + key.removeprefix(UPLOADS_PREFIX)


@tracer.capture_method
def move_out_of_uploads(bucket: str, key: str, mode: Literal["quarantine", "delete"]) -> str | None:
    """Take a rejected object out of uploads/: copied to quarantine/ (expired by lifecycle) or deleted.

    Returns the quarantine key, or None when deleted. The managed copy switches to a multipart
    copy above 5 GB, which a plain CopyObject refuses.
    """
    s3 = aws.client("s3")
    target = None
    if mode == "quarantine":
        target = quarantine_key(key)
        s3.copy({"Bucket": bucket, "Key": key}, bucket, target)
    s3.delete_object(Bucket=bucket, Key=key)
    return target
