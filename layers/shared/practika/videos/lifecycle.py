"""Videos after their upload was handed out: listing, fresh part URLs, and deletion (erasure).

Deleting a video removes its source, its quarantine copy, every clip (record and file) and its
records, within the request. It first flags the video (`deleting_at`): from then on no clip can
be created for it (the clip transaction checks the flag), so the one listing of its clips that
follows is complete. A clip being cut meanwhile finds its record gone when it tries to finish and
removes its own file (practika.clips.worker).
"""

from datetime import datetime, timedelta

from practika import clock
from practika.clips import store as clip_store
from practika.errors import Conflict
from practika.observability import logger, tracer
from practika.pages import DEFAULT_LIMIT
from practika.settings import upload_settings
from practika.videos import store
from practika.videos.model import MultipartUpload, VideoPage, VideoStatus, VideoView, upload_object_key
from practika.videos.rules import part_sizes, plan_parts, upload_window_s
from practika.videos.uploads import owned

CLIP_PAGE = 100


@tracer.capture_method
def list_videos(owner: str, *, status: VideoStatus | None, cursor: str | None, limit: int = DEFAULT_LIMIT) -> VideoPage:
    videos, next_cursor = store.list_owned(owner, limit=limit, cursor=cursor, status=status.value if status else None)
    return VideoPage(items=[VideoView.of(video) for video in videos], next_cursor=next_cursor)


@tracer.capture_method
def fresh_part_urls(owner: str, video_id: str, now: datetime | None = None) -> MultipartUpload:
    """New URLs for every part of an unfinished multipart upload (the first ones expired or ran short)."""
    stored = owned(owner, video_id)
    video, upload_id = stored.video, stored.upload_id
    logger.append_keys(video_id=video_id)
    if upload_id is None:
        raise Conflict("this video was not uploaded in parts", details={"video_id": video_id})
    key = upload_object_key(video_id)
    if video.status != VideoStatus.AWAITING_UPLOAD or not store.multipart_open(key, upload_id):
        raise Conflict("the upload is finished, expired or aborted", details={"video_id": video_id})
    settings = upload_settings()
    now = now or clock.now()
    window_s = upload_window_s(video.size_bytes, True, settings.upload_url_expiry_s)
    expires = now + timedelta(seconds=window_s)
    if not store.extend_pending(stored, int(expires.timestamp())):
        raise Conflict("the upload is finished, expired or aborted", details={"video_id": video_id})
    part_size, _ = plan_parts(video.size_bytes, settings.multipart_part_bytes)
    parts = store.presign_parts(key, upload_id, part_sizes(video.size_bytes, part_size), window_s)
    logger.info("part urls renewed", parts=len(parts))
    return MultipartUpload(upload_id=upload_id, part_size=part_size, parts=parts, expires_at=clock.iso_seconds(expires))


@tracer.capture_method
def delete_video(owner: str, video_id: str) -> None:
    """Erase the video and everything made from it; NotFound once it is gone (or never was the caller's)."""
    owned(owner, video_id)
    logger.append_keys(video_id=video_id)
    tracer.put_annotation(key="video_id", value=video_id)
    stored = store.mark_deleting(video_id, owner)
    clips = 0
    cursor: str | None = None
    while True:
        page, cursor = clip_store.list_for_video(video_id, limit=CLIP_PAGE, cursor=cursor)
        for clip in page:
            clip_store.delete_clip(clip)
        clips += len(page)
        if cursor is None:
            break
    awaiting = stored.video.status == VideoStatus.AWAITING_UPLOAD
    store.delete_objects(video_id, stored.upload_id if awaiting else None)
    store.delete_records(stored)
    logger.info("video deleted", clips=clips, status=stored.video.status.value)
