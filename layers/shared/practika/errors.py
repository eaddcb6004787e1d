"""Domain errors. Each carries the HTTP status and the stable snake_case code the API answers with.

The API maps these in one place (`practika.http`); domain code raises them and never builds
HTTP answers itself.
"""

from typing import Any


class PractikaError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthorized(PractikaError):
    status = 401
    code = "unauthorized"


class NotFound(PractikaError):
    """A missing item, and equally an item that belongs to someone else."""

    status = 404
    code = "not_found"


class InvalidRequest(PractikaError):
    status = 422
    code = "invalid_request"


class InvalidJson(InvalidRequest):
    """A body that is not JSON, or JSON beyond the bounds checked before parsing (practika.http)."""

    code = "invalid_json"


class SizeMismatch(InvalidRequest):
    """The uploaded bytes are not the size the upload was declared with."""

    code = "size_mismatch"


class InvalidClipRange(InvalidRequest):
    """start_s is not before end_s."""

    code = "invalid_range"


class RangeBeyondVideo(InvalidRequest):
    code = "range_beyond_video"


class ClipTooShort(InvalidRequest):
    code = "clip_too_short"


class ClipTooLong(InvalidRequest):
    code = "clip_too_long"


class Conflict(PractikaError):
    status = 409
    code = "conflict"


class VideoNotReady(Conflict):
    code = "video_not_ready"


class PayloadTooLarge(PractikaError):
    status = 413
    code = "payload_too_large"


class QuotaExceeded(PractikaError):
    status = 429
    code = "quota_exceeded"


class Unavailable(PractikaError):
    """A dependency failed: nothing was changed and the same request may be sent again."""

    status = 503
    code = "unavailable"
