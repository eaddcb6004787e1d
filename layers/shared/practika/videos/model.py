"""Videos: the record as stored in DynamoDB, its keys, and what the upload API takes and answers
(DESIGN.md, interfaces)."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from practika.settings import upload_settings

S3_MAX_PARTS = 10_000


class VideoStatus(StrEnum):
    AWAITING_UPLOAD = "awaiting_upload"
    VALIDATING = "validating"
    READY = "ready"
    REJECTED = "rejected"


class Outcome(StrEnum):
    """What the validate worker did with one created object."""

    READY = "ready"
    REJECTED = "rejected"
    # Already decided by an earlier delivery of the same event: nothing changed.
    STALE = "stale"
    # The object was moved away before this delivery read it.
    GONE = "gone"
    # An object outside uploads/ or in another bucket.
    IGNORED = "ignored"
    # An object with no upload handed out for it: moved out of uploads/.
    UNKNOWN_UPLOAD = "unknown_upload"


class MediaFacts(BaseModel):
    container: str
    duration_s: float
    size_bytes: int
    width: int
    height: int
    fps: float
    video_codec: str
    audio_codec: str | None = None


class RejectionCode(StrEnum):
    """Why a video was rejected: the API's `rejection.code` and the ValidationFailures `reason`."""

    TOO_LARGE = "too_large"
    NOT_A_VIDEO = "not_a_video"
    SIZE_MISMATCH = "size_mismatch"
    UNSUPPORTED_CONTAINER = "unsupported_container"
    UNSUPPORTED_CODEC = "unsupported_codec"
    NO_VIDEO_STREAM = "no_video_stream"
    CORRUPT = "corrupt"
    TOO_LONG = "too_long"
    RESOLUTION_TOO_HIGH = "resolution_too_high"
    FRAME_RATE_TOO_HIGH = "frame_rate_too_high"
    PROBE_TIMEOUT = "probe_timeout"


class Rejection(BaseModel):
    code: RejectionCode
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


def video_key(video_id: str) -> dict[str, str]:
    """DynamoDB key of a video record (single table: pk/sk)."""
    return {"pk": f"VIDEO#{video_id}", "sk": "VIDEO"}


def video_list_pk(owner: str) -> str:
    """The owner's list of videos in AppTable's ListIndex (practika.pages)."""
    return f"OWNER#{owner}#VIDEOS"


def upload_object_key(video_id: str) -> str:
    """Where a video's bytes are uploaded; chosen by the server, never by the client."""
    return f"uploads/{video_id}"


def validated_object_key(video_id: str, etag: str) -> str:
    """Where validation keeps the bytes it accepted: a key no upload URL or POST policy can write.

    One key per accepted ETag: two runs validating different bytes of one upload key each copy to
    their own key, so the copy a ready record names is always the bytes whose facts it holds.
    """
    return f"validated/{video_id}/{etag}"


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


class VideoPage(BaseModel):
    """GET /videos: the caller's videos, newest first; `next_cursor` asks for the next page."""

    items: list[VideoView]
    next_cursor: str | None = None


class CreatedVideo(VideoView):
    upload: PostUpload | MultipartUpload


@dataclass(frozen=True)
class S3ObjectRef:
    """A created object named by an S3 notification: what the validate worker is asked to decide."""

    bucket: str
    key: str
    event_name: str
    size_bytes: int | None = None
    etag: str | None = None
