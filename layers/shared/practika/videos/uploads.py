"""Uploads: what a client may ask for, the presigned POST or multipart plan it gets, and per-user quotas.

The server chooses the key (`uploads/<video_id>`); the client only ever gets URLs for it. A
presigned POST's policy pins the bucket, the key, the Content-Type and a content-length-range
up to the declared size. Above the multipart threshold the client gets one presigned URL per
part instead and calls `POST /videos/{id}/complete` at the end.
"""

import random
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from practika import aws, clock
from practika.errors import Conflict, InvalidRequest, NotFound, QuotaExceeded, SizeMismatch
from practika.observability import MetricName, SecurityEvent, log_security_event, logger, metrics, tracer
from practika.settings import storage_settings, upload_settings
from practika.videos import store
from practika.videos.model import (
    CompleteUploadRequest,
    CreatedVideo,
    CreateVideoRequest,
    MultipartUpload,
    PostUpload,
    Video,
    VideoStatus,
    VideoView,
    upload_object_key,
)
from practika.videos.rules import is_video_id, new_video_id, part_sizes, plan_parts, upload_window_s

# Claims of a free pending-upload slot a request makes before giving up on racing requests.
SLOT_CLAIMS = 8


def _refuse_quota(owner: str, reason: str, message: str, **facts: object) -> QuotaExceeded:
    log_security_event(SecurityEvent.QUOTA_EXCEEDED, "upload quota exceeded", owner=owner, quota=reason, **facts)
    return QuotaExceeded(message, details={"quota": reason, **facts})


@tracer.capture_method
def create_upload(owner: str, request: CreateVideoRequest, now: datetime | None = None) -> CreatedVideo:
    """Reserve a video for `owner` and hand out the URLs to upload its bytes."""
    settings = upload_settings()
    now = now or clock.now()
    multipart = request.size_bytes > settings.multipart_threshold_bytes
    window_s = upload_window_s(request.size_bytes, multipart, settings.upload_url_expiry_s)
    expires = now + timedelta(seconds=window_s)
    if not store.free_upload_slots(owner, settings.max_pending_uploads, int(now.timestamp())):
        raise _pending_quota(owner, settings.max_pending_uploads)
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
        created_at=clock.iso_seconds(now),
        updated_at=clock.iso_seconds(now),
    )
    upload: PostUpload | MultipartUpload
    upload_id: str | None = None
    if multipart:
        part_size, _ = plan_parts(request.size_bytes, settings.multipart_part_bytes)
        upload_id, parts = store.start_multipart(
            key, request.content_type, part_sizes(request.size_bytes, part_size), window_s
        )
        upload = MultipartUpload(
            upload_id=upload_id, part_size=part_size, parts=parts, expires_at=clock.iso_seconds(expires)
        )
    else:
        post = store.presign_post(key, request.content_type, request.size_bytes, settings.upload_url_expiry_s)
        upload = PostUpload(url=post["url"], fields=post["fields"], expires_at=clock.iso_seconds(expires))
    try:
        _claim_slot_and_create(video, upload_id, now, int(expires.timestamp()))
    except QuotaExceeded:
        if upload_id:
            store.abort_multipart(key, upload_id)
        raise
    metrics.add_metric(name=MetricName.VIDEO_UPLOAD_REQUESTS, unit="Count", value=1)
    logger.info("upload issued", method=upload.method, size_bytes=request.size_bytes)
    return CreatedVideo(**VideoView.of(video).model_dump(), upload=upload)


def _pending_quota(owner: str, limit: int) -> QuotaExceeded:
    return _refuse_quota(owner, "pending_uploads", "too many uploads are waiting for their file", limit=limit)


def _claim_slot_and_create(video: Video, upload_id: str | None, now: datetime, pending_until: int) -> None:
    """Write the video while claiming one of its owner's free pending-upload slots, in one transaction.

    Racing requests may pick the same slot: the loser picks again among the slots still free, so the
    owner never holds more pending uploads than there are slots, and a free slot is not refused.
    """
    settings = upload_settings()
    limit = settings.max_pending_uploads
    for _ in range(SLOT_CLAIMS):
        free = store.free_upload_slots(video.owner, limit, int(now.timestamp()))
        if not free:
            break
        try:
            store.create_video(
                video,
                upload_id=upload_id,
                slot=random.choice(free),  # noqa: S311 - spreads racing requests, no secret
                now_epoch=int(now.timestamp()),
                pending_until=pending_until,
                day=now.date().isoformat(),
                max_bytes_per_day=settings.max_upload_bytes_per_day,
            )
            return
        except store.SlotTaken:
            continue
        except store.DailyBytesExceeded:
            raise _refuse_quota(
                video.owner,
                "bytes_per_day",
                "the daily upload volume is used up",
                limit=settings.max_upload_bytes_per_day,
            ) from None
    raise _pending_quota(video.owner, limit)


def owned(owner: str, video_id: str) -> store.StoredVideo:
    """The caller's video; NotFound for a malformed id, a missing video and someone else's alike."""
    if not is_video_id(video_id):
        raise NotFound("no such video", details={"video_id": video_id})
    return store.get_owned(video_id, owner)


@tracer.capture_method
def describe_video(owner: str, video_id: str) -> VideoView:
    logger.append_keys(video_id=video_id)
    tracer.put_annotation(key="video_id", value=video_id)
    return VideoView.of(owned(owner, video_id).video)


@tracer.capture_method
def complete_upload(owner: str, video_id: str, request: CompleteUploadRequest) -> VideoView:
    """Assemble the parts of a multipart upload; repeating the call after success answers the same."""
    stored = owned(owner, video_id)
    video, upload_id = stored.video, stored.upload_id
    logger.append_keys(video_id=video_id)
    tracer.put_annotation(key="video_id", value=video_id)
    if upload_id is None:
        raise Conflict("this video was not uploaded in parts", details={"video_id": video_id})
    if video.status != VideoStatus.AWAITING_UPLOAD:
        return VideoView.of(video)
    numbers = [part.part_number for part in request.parts]
    if numbers != list(range(1, len(numbers) + 1)):
        raise InvalidRequest("parts must be numbered 1..N in order, each once", details={"part_numbers": numbers})
    key = upload_object_key(video_id)
    try:
        _check_parts(key, upload_id, request, video.size_bytes)
        store.complete_multipart(key, upload_id, [{"PartNumber": p.part_number, "ETag": p.etag} for p in request.parts])
    except ClientError as error:
        code = aws.error_code(error)
        if code == "NoSuchUpload":
            if store.head_upload(storage_settings().uploads_bucket, key) is not None:
                return VideoView.of(video)  # an earlier call completed it
            raise Conflict("the upload expired or was aborted", details={"video_id": video_id}) from None
        if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
            raise InvalidRequest("the parts do not match the uploaded ones", details={"s3_error": code}) from None
        raise
    logger.info("multipart upload completed", parts=len(numbers))
    return VideoView.of(video)


def _check_parts(key: str, upload_id: str, request: CompleteUploadRequest, declared_bytes: int) -> None:
    """The parts named are the ones S3 holds, and hold exactly the declared bytes: checked before S3
    assembles anything, so nothing larger or smaller than declared is ever stored, copied or counted."""
    held = store.uploaded_parts(key, upload_id)
    for part in request.parts:
        found = held.get(part.part_number)
        if found is None or found.etag != part.etag.strip('"'):
            raise InvalidRequest("the parts do not match the uploaded ones", details={"part_number": part.part_number})
    uploaded = sum(held[part.part_number].size_bytes for part in request.parts)
    if uploaded != declared_bytes:
        raise SizeMismatch(
            f"the parts hold {uploaded} bytes but {declared_bytes} were announced",
            details={"declared_bytes": declared_bytes, "uploaded_bytes": uploaded},
        )
