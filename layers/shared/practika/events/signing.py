"""Standard Webhooks signatures: `webhook-signature` is `v1,<base64 HMAC-SHA256>` of
`<webhook-id>.<webhook-timestamp>.<body>` under each active secret, space separated, so a
receiver holding either the new or the old secret during a rotation accepts the delivery.

Secrets look like `whsec_<base64 key>` (the scheme's format; the libraries of every language read it).
"""

import base64
import hashlib
import hmac
import secrets as random_secrets

PREFIX = "whsec_"
TOLERANCE_S = 300


def new_secret() -> str:
    return PREFIX + base64.b64encode(random_secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def headers(active: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, message_id, timestamp, body) for secret in active),
    }


def verify(secret: str, received: dict[str, str], body: bytes, now: int, tolerance_s: int = TOLERANCE_S) -> bool:
    """Whether a delivery is ours and fresh: what a receiver does (docs/WEBHOOKS.md shows it in Django)."""
    lower = {name.lower(): value for name, value in received.items()}
    try:
        message_id, timestamp = lower["webhook-id"], int(lower["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in lower.get("webhook-signature", "").split())
