"""App events: what each state change publishes (EventBridge `detail`, webhook body), and which
change of a record is which event.

The event id is derived from the transition itself (type, resource id, the record's time of the
change), so every redelivery of the same stream record carries the same id: the app's
idempotency key.
"""

import hashlib
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from practika.clips import rules as clip_rules
from practika.clips.model import Clip, ClipStatus, ClipView
from practika.videos.model import Video, VideoStatus, VideoView

SCHEMA_VERSION: Literal[1] = 1
SOURCE = "practika.pipeline"


class EventType(StrEnum):
    VIDEO_UPLOADED = "video.uploaded"
    VIDEO_READY = "video.ready"
    VIDEO_REJECTED = "video.rejected"
    VIDEO_DELETED = "video.deleted"
    CLIP_READY = "clip.ready"
    CLIP_FAILED = "clip.failed"


VideoEventType = Literal["video.uploaded", "video.ready", "video.rejected", "video.deleted"]
ClipEventType = Literal["clip.ready", "clip.failed"]


class VideoEvent(BaseModel):
    """A video changed state; `data` is the video as GET /videos/{id} showed it then."""

    id: str = Field(description="stable across redeliveries: the idempotency key")
    type: VideoEventType
    schema_version: Literal[1] = SCHEMA_VERSION
    occurred_at: str
    data: VideoView


class ClipEvent(BaseModel):
    """A clip finished; `data.download_url` is null: GET /clips/{id} hands out a fresh one."""

    id: str = Field(description="stable across redeliveries: the idempotency key")
    type: ClipEventType
    schema_version: Literal[1] = SCHEMA_VERSION
    occurred_at: str
    data: ClipView


AppEvent = VideoEvent | ClipEvent

_VIDEO_DONE = {VideoStatus.READY: EventType.VIDEO_READY, VideoStatus.REJECTED: EventType.VIDEO_REJECTED}
_CLIP_DONE = {ClipStatus.READY: EventType.CLIP_READY, ClipStatus.FAILED: EventType.CLIP_FAILED}


def event_id(kind: EventType, resource_id: str, occurred_at: str) -> str:
    digest = hashlib.sha256(f"{kind.value}|{resource_id}|{occurred_at}".encode()).hexdigest()
    return f"evt_{digest[:32]}"


def of_change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> AppEvent | None:
    """The event a change of one AppTable item is (old and new images), or None when it is none."""
    record = new or old
    kind = (record or {}).get("sk")
    if kind == "VIDEO":
        return _video_event(old, new)
    if kind == "CLIP" and new is not None:
        return _clip_event(old, new)
    return None


def _video_event(old: dict[str, Any] | None, new: dict[str, Any] | None) -> VideoEvent | None:
    if new is None:
        assert old is not None
        gone = Video.model_validate(old)
        return _video(EventType.VIDEO_DELETED, gone, str(old.get("deleting_at") or gone.updated_at))
    video = Video.model_validate(new)
    before = old.get("status") if old else None
    if before == VideoStatus.AWAITING_UPLOAD and video.status == VideoStatus.VALIDATING:
        return _video(EventType.VIDEO_UPLOADED, video, video.updated_at)
    if before != video.status and video.status in _VIDEO_DONE:
        return _video(_VIDEO_DONE[video.status], video, video.updated_at)
    return None


def _video(kind: EventType, video: Video, at: str) -> VideoEvent:
    return VideoEvent(id=event_id(kind, video.video_id, at), type=kind.value, occurred_at=at, data=VideoView.of(video))


def _clip_event(old: dict[str, Any] | None, new: dict[str, Any]) -> ClipEvent | None:
    clip = Clip.model_validate(new)
    before = old.get("status") if old else None
    if before == clip.status or clip.status not in _CLIP_DONE:
        return None
    kind = _CLIP_DONE[clip.status]
    return ClipEvent(
        id=event_id(kind, clip.clip_id, clip.updated_at),
        type=kind.value,
        occurred_at=clip.updated_at,
        data=clip_rules.view(clip),
    )
