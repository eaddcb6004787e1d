"""Every setting of every function, read from the environment template.yaml sets.

Each function reads the settings it needs when first needed, once per container (`cached`), and
a missing or malformed variable fails with pydantic's message naming the field. Tests change the
environment between cases and call `reset()`, which forgets every cached setting and everything
built from them (boto3 clients, the webhook provider).

`EnvSettings` is a plain pydantic model filled from the environment. It replaces
pydantic-settings, whose import alone cost every cold start about 115 ms (bench/README.md)
for the one thing used here: one variable per field.
"""

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Json

if TYPE_CHECKING:
    from practika.alarms.routing import RoutingConfig

_T = TypeVar("_T")
_caches: list[Any] = []


def cached(read: Callable[..., _T]) -> "functools._lru_cache_wrapper[_T]":
    """`functools.cache`, and forgotten by `reset()`."""
    wrapper = functools.cache(read)
    _caches.append(wrapper)
    return wrapper


def reset() -> None:
    """Forget every cached setting and what was built from them: the next call reads the environment again."""
    for wrapper in _caches:
        wrapper.cache_clear()


class EnvSettings(BaseModel):
    """Settings whose fields come from the environment variables of their upper-cased names."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def from_env(cls) -> Self:
        present = {name: os.environ[name.upper()] for name in cls.model_fields if name.upper() in os.environ}
        return cls.model_validate(present)


class DeploymentSettings(EnvSettings):
    """Where the code runs: the environment name (a metric dimension) and, locally, the AWS endpoint."""

    environment: str = "dev"
    aws_endpoint_url: str | None = None


@cached
def deployment_settings() -> DeploymentSettings:
    return DeploymentSettings.from_env()


class StorageSettings(EnvSettings):
    table_name: str
    uploads_bucket: str
    clips_bucket: str


@cached
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


@cached
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
    # Files up to this size have every packet of their video read and every key frame decoded;
    # larger ones with an index are sampled (practika.media.probe.scan_video, docs/UPLOADS.md).
    scan_whole_bytes: int = Field(default=4 * MIB, ge=0)


@cached
def validation_settings() -> ValidationSettings:
    return ValidationSettings.from_env()


class ClipSettings(EnvSettings):
    """The clip API's configuration (template parameters MinClipSeconds, MaxClipSeconds, MaxClipsPerDay)."""

    clip_queue_url: str
    min_clip_seconds: float = 1.0
    max_clip_seconds: float = 300.0
    max_clips_per_day: int = 100


@cached
def clip_settings() -> ClipSettings:
    return ClipSettings.from_env()


class ClipOutputLimits(EnvSettings):
    """What the clip worker may deliver: the clip's and the video's limits (the same template parameters)."""

    max_clip_seconds: float = ClipSettings.model_fields["max_clip_seconds"].default
    max_width: int = ValidationSettings.model_fields["max_width"].default
    max_height: int = ValidationSettings.model_fields["max_height"].default
    max_fps: float = ValidationSettings.model_fields["max_fps"].default
    max_upload_bytes: int = ValidationSettings.model_fields["max_upload_bytes"].default


@cached
def clip_output_limits() -> ClipOutputLimits:
    return ClipOutputLimits.from_env()


class SecurityLogSettings(EnvSettings):
    security_log_group: str


@cached
def security_log_settings() -> SecurityLogSettings:
    return SecurityLogSettings.from_env()


class MediaSettings(EnvSettings):
    # Plain http for presigned URLs: the local stack only (moto serves http; AWS presigns https).
    media_allow_http: bool = False
    # Largest picture a decoder may allocate (8K UHD). The container's declared size is checked against
    # the limits, but the frames can claim another: a WebM saying 256x256 whose VP8 frames say 16000x16000
    # made the decode check allocate 1.5 GB (the function has 1 GB). Over this, the decoder refuses the frame.
    media_max_pixels: int = Field(default=7680 * 4320, gt=0)


@cached
def media_settings() -> MediaSettings:
    return MediaSettings.from_env()


class AlarmRouterSettings(EnvSettings):
    table_name: str
    idempotency_table: str
    # Name of the Secrets Manager secret: a JSON object {destination name: webhook URL}.
    chat_webhooks_secret: str
    chat_routes: "Json[RoutingConfig]"
    # How long the webhook URLs are cached between Secrets Manager reads.
    chat_webhooks_max_age_s: int = Field(default=300, ge=0)
    # Kept free at the end of the invocation for the idempotency and metric writes.
    safety_margin_ms: int = Field(default=2000, ge=0)

    @classmethod
    def from_env(cls) -> Self:
        # The routing model is imported here, by the one function that routes alarms: every other
        # function's cold start would pay for the alarms package.
        from practika.alarms.routing import RoutingConfig

        cls.model_rebuild(_types_namespace={"RoutingConfig": RoutingConfig})
        return super().from_env()


@cached
def router_settings() -> AlarmRouterSettings:
    return AlarmRouterSettings.from_env()


class PublisherSettings(EnvSettings):
    """The event publisher: where app events go."""

    event_bus_name: str


@cached
def publisher_settings() -> PublisherSettings:
    return PublisherSettings.from_env()


class WebhookSettings(EnvSettings):
    """The webhook sender (template parameters WebhookUrl, WebhookRetryWindowSeconds, WebhookBackoff*)."""

    # The app's endpoint; empty: no app listens, events are dropped.
    webhook_url: str = ""
    # Secrets Manager secret: JSON {"active": ["whsec_...", "whsec_..."]}, newest first.
    webhook_secret_name: str
    webhook_queue_url: str
    webhook_dlq_url: str
    # How long an event is retried before it goes to the DLQ (at least a day: the app may be down that long).
    webhook_retry_window_s: int = Field(default=25 * 3600, ge=1)
    webhook_backoff_base_s: float = Field(default=30.0, gt=0)
    webhook_backoff_cap_s: float = Field(default=3600.0, gt=0)


@cached
def webhook_settings() -> WebhookSettings:
    return WebhookSettings.from_env()
