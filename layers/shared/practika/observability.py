"""Logger, tracer and metrics shared by handlers and domain code, and the names of every metric.

Service name, log level and namespace come from the POWERTOOLS_* variables each function gets
from template.yaml; `environment` is a default dimension on every metric.

Every log line passes through `redact` (presigned URLs, webhook URLs and bearer tokens are secrets):
`logger`'s lines, library and runtime lines through the root logger, and the text of an exception
that ends an invocation (`redacted_failures`).
"""

import functools
import logging
import re
import traceback
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from practika.settings import deployment_settings

NAMESPACE = "Practika"

# A URL keeps its scheme and host: its path may be a secret (a webhook URL) and its query a credential
# (a presigned URL). A backslash ends it, so a JSON-escaped traceback ("...\n") is not swallowed.
_URL = re.compile(r"\b(https?)://([^/\s\"'<>\\?#]+)[^\s\"'<>\\]*", re.IGNORECASE)
# What can remain outside a whole URL: a query cut from its URL, an Authorization header, a bare JWT.
_SECRETS = (
    (re.compile(r"X-Amz-[A-Za-z-]+=[^&\s\"'\\]*", re.IGNORECASE), "[redacted]"),
    (re.compile(r"\b(bearer)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1 [redacted]"),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), "[redacted]"),
)


def redact(text: str) -> str:
    """`text` without URL paths and queries, AWS signature parameters, bearer tokens or JWTs."""
    text = _URL.sub(r"\1://\2/[redacted]", text)
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON line, redacted as a whole: message, keys, exception and traceback alike."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingFilter(logging.Filter):
    """The same redaction for lines that do not pass through `logger` (the runtime's, libraries')."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


logger = Logger(logger_formatter=RedactingFormatter())
for _handler in [*logging.getLogger().handlers, logging.lastResort]:
    if _handler is not None:
        _handler.addFilter(RedactingFilter())
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
    APP_EVENTS_PUBLISHED = "AppEventsPublished"
    WEBHOOKS_DELIVERED = "WebhooksDelivered"
    WEBHOOK_ATTEMPTS_FAILED = "WebhookAttemptsFailed"
    WEBHOOKS_ABANDONED = "WebhooksAbandoned"


class SecurityEvent(StrEnum):
    """Values of the `security_event` log key; a metric filter counts them."""

    QUOTA_EXCEEDED = "quota_exceeded"
    DISGUISED_MEDIA = "disguised_media"
    UNKNOWN_UPLOAD = "unknown_upload"
    SIZE_MISMATCH = "size_mismatch"
    OBJECT_REPLACED = "object_replaced"
    # A file that made ffprobe crash on every try: a decoder bug or an attack on one.
    TOOL_CRASH = "tool_crash"


def log_security_event(kind: SecurityEvent, message: str, *, owner: str | None, **facts: object) -> None:
    """A security event; `owner` (None only when no one is known) is what the runbook groups them by."""
    logger.warning(message, extra={"security_event": kind.value, "owner": owner, **facts})


class InvocationFailed(Exception):
    """What the Lambda runtime is told of a failure whose exception text held a URL or a token."""


def redacted_failures(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Let an invocation fail without its exception carrying a secret into the runtime's error log.

    The runtime prints an uncaught exception with its whole chain (a timed-out ffmpeg's command line
    holds the presigned source URL): such a failure is logged here, redacted, and raised again as
    `InvocationFailed` without the chain. Failures without secrets pass unchanged.
    """

    @functools.wraps(handler)
    def run(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        except Exception as error:
            told = "".join(traceback.format_exception(error))
            if redact(told) == told:
                raise
            logger.exception("invocation failed")
            raise InvocationFailed(redact(f"{type(error).__name__}: {error}")) from None

    return run


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
