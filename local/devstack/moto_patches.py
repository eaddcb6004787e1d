"""Make moto's server behave like DynamoDB under concurrent requests.

moto's DynamoDB backend is not thread-safe, and its threaded server answers requests in parallel:
`TransactWriteItems` deep-copies each table as a backup and restores that copy when a condition
fails, so a failing transaction can wipe out writes other requests made meanwhile, and two
racing transactions can both pass `attribute_not_exists`. Seen through the local stack as two
racing duplicate clip requests both answering 202 and quota counters off by a few. DynamoDB
applies every request to an item atomically and transactions serializably; one lock around
moto's DynamoDB request handling gives the local stack those semantics (at no cost that matters
on a laptop).
"""

import functools
import threading
from typing import Any

_DYNAMODB_LOCK = threading.RLock()


def serialize_dynamodb() -> None:
    """Run moto's DynamoDB requests one at a time (idempotent)."""
    from moto.dynamodb.responses import DynamoHandler

    if getattr(DynamoHandler.call_action, "_devstack_serialized", False):
        return
    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _DYNAMODB_LOCK:
            return original(self)

    call_action._devstack_serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
