"""Clips: the record as stored in DynamoDB, its keys, and the API and queue shapes."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ClipStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class ClipMode(StrEnum):
    FAST = "fast"
    ACCURATE = "accurate"


def clip_key(clip_id: str) -> dict[str, str]:
    return {"pk": f"CLIP#{clip_id}", "sk": "CLIP"}


def clip_list_pk(video_id: str) -> str:
    """The video's list of clips in AppTable's ListIndex (practika.pages)."""
    return f"VIDEO#{video_id}#CLIPS"


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


class ClipErrorCode(StrEnum):
    """Why a clip failed: the API's `error.code` and the ClipFailures `code`."""

    # Passing failures, the request was fine: the same clip asked again is cut again.
    TIMEOUT = "timeout"
    SOURCE_UNREACHABLE = "source_unreachable"
    STORAGE_ERROR = "storage_error"
    TOOL_CRASH = "tool_crash"  # ffmpeg/ffprobe killed by a signal: no verdict on the media
    # Final ones.
    SOURCE_MISSING = "source_missing"
    SOURCE_REPLACED = "source_replaced"
    CUT_FAILED = "cut_failed"
    EMPTY_CLIP = "empty_clip"
    # The written file breaks the limits (checked before upload).
    KEYFRAME_TOO_FAR = "keyframe_too_far"
    OUTPUT_TOO_LONG = "output_too_long"
    OUTPUT_RESOLUTION_TOO_HIGH = "output_resolution_too_high"
    OUTPUT_FRAME_RATE_TOO_HIGH = "output_frame_rate_too_high"
    OUTPUT_TOO_LARGE = "output_too_large"


class ClipError(BaseModel):
    code: ClipErrorCode
    message: str
    attempts: int | None = None  # how many times the worker tried, when a passing failure used them all


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
    method: str | None = None  # how it was cut: copy, smart or reencode (set when ready)
    attempts: int = 0


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
    method: str | None = Field(default=None, description="how the clip was made (when ready): copy, smart or reencode")


class ClipPage(BaseModel):
    """GET /videos/{id}/clips: the video's clips, newest first; `next_cursor` asks for the next page."""

    items: list[ClipView]
    next_cursor: str | None = None


class ClipJob(BaseModel):
    """Body of a clip queue message: only the id; the worker reads the rest from the record."""

    clip_id: str
