"""Configuration shared by the functions, read from the environment template.yaml sets.

Each function reads the settings it needs once per container (`functools.cache`), and a
missing or malformed variable fails with pydantic's message naming the field.

`EnvSettings` is a plain pydantic model filled from the environment. It replaces
pydantic-settings, whose import alone cost every cold start about 115 ms (measured with
`python -X importtime`) for the one thing used here: one variable per field.
"""

import os
from functools import cache
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field


class EnvSettings(BaseModel):
    """Settings whose fields come from the environment variables of their upper-cased names."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def from_env(cls) -> Self:
        present = {name: os.environ[name.upper()] for name in cls.model_fields if name.upper() in os.environ}
        return cls.model_validate(present)


class StorageSettings(EnvSettings):
    table_name: str
    uploads_bucket: str
    clips_bucket: str
    environment: str = "dev"


@cache
def storage_settings() -> StorageSettings:
    return StorageSettings.from_env()


MIB = 1024 * 1024
GIB = 1024 * MIB
S3_MIN_PART_BYTES = 5 * MIB


class UploadSettings(EnvSettings):
    """The upload API's limits (template parameters of the same names)."""

    max_upload_bytes: int = Field(default=5 * GIB, gt=0)
    multipart_threshold_bytes: int = Field(default=100 * MIB, gt=0)
    multipart_part_bytes: int = Field(default=64 * MIB, ge=S3_MIN_PART_BYTES)
    upload_url_expiry_s: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    max_pending_uploads: int = Field(default=10, ge=1)
    max_upload_bytes_per_day: int = Field(default=50 * GIB, gt=0)


@cache
def upload_settings() -> UploadSettings:
    return UploadSettings.from_env()


class ValidationSettings(EnvSettings):
    """The validate worker's limits on what a video may be."""

    uploads_bucket: str
    max_upload_bytes: int = Field(default=UploadSettings.model_fields["max_upload_bytes"].default, gt=0)
    max_duration_s: float = Field(default=3600.0, gt=0)
    max_width: int = Field(default=3840, gt=0)
    max_height: int = Field(default=2160, gt=0)
    max_fps: float = Field(default=120.0, gt=0)
    rejected_objects: Literal["quarantine", "delete"] = "quarantine"
    probe_timeout_s: float = Field(default=120.0, gt=0)


@cache
def validation_settings() -> ValidationSettings:
    return ValidationSettings.from_env()


class ClipSettings(EnvSettings):
    """The clip API's configuration (template parameters MinClipSeconds, MaxClipSeconds, MaxClipsPerDay)."""

    clip_queue_url: str
    min_clip_seconds: float = 1.0
    max_clip_seconds: float = 300.0
    max_clips_per_day: int = 100


@cache
def clip_settings() -> ClipSettings:
    return ClipSettings.from_env()


class SecurityLogSettings(EnvSettings):
    security_log_group: str


@cache
def security_log_settings() -> SecurityLogSettings:
    return SecurityLogSettings.from_env()
