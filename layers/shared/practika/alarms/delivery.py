"""One webhook post, with connect and read timeouts and retries.

429 waits what Retry-After says; 5xx and connection errors back off exponentially with jitter;
any other 4xx is permanent. Retries stop at the deadline (from the Lambda's remaining time).
Errors never carry the webhook URL: it is a secret (it authorises posting to the channel).
"""

import email.utils
import http.client
import json
import random
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
MAX_ATTEMPTS = 6
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
# An attempt is not started with less time than this left before the deadline.
MIN_ATTEMPT_S = 1.0
_MAX_BODY_BYTES = 64 * 1024


class DeliveryError(Exception):
    """A post that did not succeed; the message names the status or error class, never the URL."""

    def __init__(self, message: str, *, status: int | None, attempts: int, permanent: bool) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.permanent = permanent


@dataclass(frozen=True)
class Delivered:
    status: int
    attempts: int
    latency_ms: float


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with jitter (half fixed, half random) so retries from many senders spread."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not cryptography


def send(
    url: str, body: bytes, read_timeout: float, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    """One POST of a JSON body; (status, lower-cased response headers). Also the app webhooks' sender."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DeliveryError("webhook url is not http(s)", status=None, attempts=0, permanent=True)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        context = ssl.create_default_context()
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=CONNECT_TIMEOUT_S, context=context)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=CONNECT_TIMEOUT_S)
    try:
        connection.connect()
        if connection.sock is not None:
            connection.sock.settimeout(read_timeout)
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        sent = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "practika-alarm-router"}
        connection.request("POST", target, body=body, headers={**sent, **(headers or {})})
        response = connection.getresponse()
        response.read(_MAX_BODY_BYTES)
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def post_json(url: str, payload: dict[str, Any], *, deadline: float) -> Delivered:
    """POST `payload` to `url` until it succeeds, fails permanently, or `deadline` (time.monotonic) nears."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        status: int | None = None
        try:
            status, headers = send(url, body, read_timeout=max(0.5, min(READ_TIMEOUT_S, remaining)))
        except (OSError, http.client.HTTPException) as error:
            wait = backoff_seconds(attempt)
            reason = f"connection error ({type(error).__name__})"
        else:
            if 200 <= status < 300:
                return Delivered(status, attempt, round((time.monotonic() - started) * 1000, 1))
            if status == 429:
                wait = retry_after_seconds(headers.get("retry-after")) or backoff_seconds(attempt)
            elif status >= 500:
                wait = backoff_seconds(attempt)
            else:
                raise DeliveryError(f"webhook answered {status}", status=status, attempts=attempt, permanent=True)
            reason = f"webhook answered {status}"
        out_of_time = time.monotonic() + wait + MIN_ATTEMPT_S > deadline
        if attempt >= MAX_ATTEMPTS or out_of_time:
            raise DeliveryError(f"{reason} after {attempt} attempts", status=status, attempts=attempt, permanent=False)
        time.sleep(wait)
