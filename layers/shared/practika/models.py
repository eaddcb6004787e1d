"""The records of the pipeline, as stored in DynamoDB and shown by the API (DESIGN.md, interfaces)."""

from enum import StrEnum

from pydantic import BaseModel


class VideoStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    VALIDATING = "validating"
    READY = "ready"
    REJECTED = "rejected"


class MediaFacts(BaseModel):
    container: str
    duration_s: float
    size_bytes: int
    width: int
    height: int
    fps: float
    video_codec: str
    audio_codec: str | None = None


class Rejection(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    video_id: str
    owner: str
    status: VideoStatus
    filename: str
    content_type: str
    size_bytes: int
    created_at: str
    updated_at: str
    media: MediaFacts | None = None
    rejection: Rejection | None = None


class ClipStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class ClipMode(StrEnum):
    FAST = "fast"
    ACCURATE = "accurate"


def video_key(video_id: str) -> dict[str, str]:
    """DynamoDB key of a video record (single table: pk/sk)."""
    return {"pk": f"VIDEO#{video_id}", "sk": "VIDEO"}


def clip_key(clip_id: str) -> dict[str, str]:
    return {"pk": f"CLIP#{clip_id}", "sk": "CLIP"}


def upload_object_key(video_id: str) -> str:
    """Where a video's bytes live; chosen by the server, never by the client."""
    return f"uploads/{video_id}"


def clip_object_key(video_id: str, clip_id: str) -> str:
    return f"clips/{video_id}/{clip_id}.mp4"


class ClipRange(BaseModel):
    """What a clip was asked for (seconds, rounded to the millisecond)."""

    start_s: float
    end_s: float
    mode: ClipMode


class ClipTimes(BaseModel):
    """What a clip really covers, measured by ffprobe on the written file."""

    start_s: float
    end_s: float
    duration_s: float


class ClipError(BaseModel):
    code: str
    message: str


class Clip(BaseModel):
    clip_id: str
    video_id: str
    owner: str
    status: ClipStatus
    requested: ClipRange
    filename: str
    created_at: str
    updated_at: str
    actual: ClipTimes | None = None
    error: ClipError | None = None
    size_bytes: int | None = None
    attempts: int = 0
