"""Logger, tracer and metrics shared by handlers and domain code, and the names of every metric.

Service name, log level and namespace come from the POWERTOOLS_* variables each function gets
from template.yaml; `environment` is a default dimension on every metric.
"""

from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from practika.settings import deployment_settings

NAMESPACE = "Practika"

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=NAMESPACE)
metrics.set_default_dimensions(environment=deployment_settings().environment)


class MetricName(StrEnum):
    """Every custom metric the code emits; template alarms and dashboards are checked against this list."""

    HEALTH_CHECKS = "HealthChecks"
    HEALTH_CHECK_FAILURES = "HealthCheckFailures"
    VIDEO_UPLOAD_REQUESTS = "VideoUploadRequests"
    VIDEO_UPLOADS = "VideoUploads"
    UPLOAD_BYTES = "UploadBytes"
    VALIDATION_FAILURES = "ValidationFailures"
    PROBE_MS = "ProbeMs"
    SCAN_MS = "ScanMs"
    CLIP_REQUESTS = "ClipRequests"
    CLIP_CREATIONS = "ClipCreations"
    CLIP_DURATION_SECONDS = "ClipDurationSeconds"
    CLIP_PROCESSING_MS = "ClipProcessingMs"
    CLIP_FAILURES = "ClipFailures"
    CLIP_SOURCE_BYTES_READ = "ClipSourceBytesRead"
    ALARM_NOTIFICATIONS_DELIVERED = "AlarmNotificationsDelivered"
    ALARM_NOTIFICATIONS_FAILED = "AlarmNotificationsFailed"
    DELIVERY_LATENCY_MS = "DeliveryLatencyMs"
    UNKNOWN_NOTIFICATION = "UnknownNotification"


class SecurityEvent(StrEnum):
    """Values of the `security_event` log key; a metric filter counts them."""

    QUOTA_EXCEEDED = "quota_exceeded"
    DISGUISED_MEDIA = "disguised_media"
    UNKNOWN_UPLOAD = "unknown_upload"
    SIZE_MISMATCH = "size_mismatch"
    OBJECT_REPLACED = "object_replaced"
    # A file that made ffprobe crash on every try: a decoder bug or an attack on one.
    TOOL_CRASH = "tool_crash"


def log_security_event(kind: SecurityEvent, message: str, **facts: object) -> None:
    logger.warning(message, extra={"security_event": kind.value, **facts})


def count_by(
    name: MetricName, dimension: str, value: str, *, amount: float = 1, unit: MetricUnit = MetricUnit.Count
) -> None:
    """A metric with its own dimension (rejection reason, clip mode, error code, destination type) on top of
    service and environment, emitted at once: the handler's metrics share one dimension set."""
    with single_metric(
        name=name,
        unit=unit,
        value=amount,
        namespace=NAMESPACE,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name=dimension, value=value)
