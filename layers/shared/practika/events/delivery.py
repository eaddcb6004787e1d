"""Webhook deliveries to the app: one signed POST per attempt; the queue holds the event between
attempts (visibility timeout = the backoff or the app's Retry-After), for a retry window of at
least 24 hours, after which the event goes to the DLQ (alarmed).

What is retried: connection errors, timeouts, 408, 429 and 5xx. Any other 4xx means the app
refuses this event for good (a bad secret, a gone endpoint): it goes to the DLQ at once.
"""

import http.client
import json
import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from practika import aws
from practika.alarms.delivery import DeliveryError, retry_after_seconds, send
from practika.errors import PractikaError
from practika.events import signing
from practika.observability import MetricName, logger, metrics
from practika.settings import cached, webhook_settings

READ_TIMEOUT_S = 10.0
# SQS refuses a visibility timeout above 12 hours.
MAX_DELAY_S = 12 * 3600
RETRYABLE_4XX = {408, 429}


class SigningSecretInvalid(PractikaError):
    code = "signing_secret_invalid"


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    status: int | None
    retry_after_s: float | None = None
    permanent: bool = False
    reason: str = ""


@cached
def _provider() -> SecretsProvider:
    return SecretsProvider(boto3_client=aws.client("secretsmanager"))


def active_secrets(secret_name: str, max_age_s: int = 300) -> list[str]:
    """The signing secrets, newest first: JSON `{"active": ["whsec_...", ...]}` (one or two during a rotation)."""
    value = _provider().get(secret_name, transform="json", max_age=max_age_s)
    active = value.get("active") if isinstance(value, dict) else None
    if not isinstance(active, list) or not 1 <= len(active) <= 2 or not all(isinstance(s, str) for s in active):
        raise SigningSecretInvalid('the signing secret must be JSON {"active": [one or two whsec_ secrets]}')
    return active


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def attempt(url: str, event: dict[str, Any], secrets: list[str], now: int | None = None) -> Attempt:
    """One signed POST of the event; what came of it."""
    body = body_of(event)
    headers = signing.headers(secrets, str(event["id"]), now or int(time.time()), body)
    try:
        status, answered = send(url, body, READ_TIMEOUT_S, {**headers, "User-Agent": "practika-webhooks"})
    except DeliveryError as error:  # not an http(s) URL: no retry mends that
        return Attempt(False, None, permanent=True, reason=str(error))
    except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, DNS, garbled answer
        return Attempt(False, None, reason=f"connection error ({type(error).__name__})")
    if 200 <= status < 300:
        return Attempt(True, status)
    retryable = status >= 500 or status in RETRYABLE_4XX
    return Attempt(
        False,
        status,
        retry_after_s=retry_after_seconds(answered.get("retry-after")),
        permanent=not retryable,
        reason=f"webhook answered {status}",
    )


def next_delay_s(result: Attempt, attempt_number: int, base_s: float, cap_s: float) -> int:
    """Seconds until the next attempt: the app's Retry-After when it gave one, else doubling from `base_s`."""
    if result.retry_after_s is not None:
        wanted = result.retry_after_s
    else:
        wanted = min(cap_s, base_s * 2 ** (attempt_number - 1))
    return int(min(MAX_DELAY_S, max(1.0, wanted)))


class RetryLater(Exception):
    """The attempt failed and the event stays queued, hidden until its next attempt is due."""


def deliver_queued(body: str, *, receipt_handle: str, attempt_number: int, sent_at_s: float, now_s: float) -> str:
    """One attempt for an event queued by the EventBridge rule: 'delivered', 'dropped' or 'parked';
    raises RetryLater (after setting when the message reappears) when it is to be tried again."""
    settings = webhook_settings()
    event = json.loads(body)["detail"]
    logger.append_keys(event_id=event.get("id"), event_type=event.get("type"))
    if not settings.webhook_url:
        logger.warning("no webhook url, event dropped")
        return "dropped"
    result = attempt(settings.webhook_url, event, active_secrets(settings.webhook_secret_name), int(now_s))
    if result.delivered:
        metrics.add_metric(name=MetricName.WEBHOOKS_DELIVERED, unit="Count", value=1)
        logger.info("webhook delivered", status=result.status, attempt=attempt_number)
        return "delivered"
    metrics.add_metric(name=MetricName.WEBHOOK_ATTEMPTS_FAILED, unit="Count", value=1)
    age_s = now_s - sent_at_s
    sqs = aws.client("sqs")
    if result.permanent or age_s >= settings.webhook_retry_window_s:
        sqs.send_message(
            QueueUrl=settings.webhook_dlq_url,
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": result.reason or "unknown"}},
        )
        metrics.add_metric(name=MetricName.WEBHOOKS_ABANDONED, unit="Count", value=1)
        logger.error("webhook abandoned", reason=result.reason, attempts=attempt_number, age_s=round(age_s))
        return "parked"
    delay = next_delay_s(result, attempt_number, settings.webhook_backoff_base_s, settings.webhook_backoff_cap_s)
    sqs.change_message_visibility(
        QueueUrl=settings.webhook_queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay
    )
    logger.warning("webhook attempt failed", reason=result.reason, attempt=attempt_number, retry_in_s=delay)
    raise RetryLater(result.reason)
