"""Make moto's server behave like AWS where the local stack depends on it.

DynamoDB under concurrent requests:

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


_RANGED = threading.local()


class _ObjectBytes:
    """An object's bytes during a ranged GET: the range handler's slice reads only that range."""

    def __init__(self, key: Any) -> None:
        self._key = key

    def __len__(self) -> int:
        return int(self._key.size)

    def __getitem__(self, window: slice) -> bytes:
        start = window.start or 0
        stop = len(self) if window.stop is None else min(window.stop, len(self))
        with self._key.lock:
            buffer = self._key._value_buffer
            buffer.seek(start)
            return bytes(buffer.read(max(0, stop - start)))

    def __bytes__(self) -> bytes:
        return bytes(self[0 : len(self)])


def read_ranges_only() -> None:
    """Serve a ranged GetObject by reading just the range, as S3 does (idempotent).

    moto copies the whole object for every GET and then slices the range, so one 64 KiB read of a
    150 MB object costs 150 ms, and ffmpeg's range reads (the pipeline's whole point) look slow
    locally while a download-everything approach pays that once. Measured by `make bench`.
    """
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    if getattr(S3Response.get_object, "_devstack_ranged", False):
        return
    original_get = S3Response.get_object
    original_range = S3Response._handle_range_header
    whole_value: Any = FakeKey.__dict__["value"]  # the property object, with its getter and setter

    def value(self: Any) -> Any:
        return _ObjectBytes(self) if getattr(_RANGED, "active", False) else whole_value.fget(self)

    @functools.wraps(original_get)
    def get_object(self: Any) -> Any:
        spec = str(self.headers.get("range") or "")
        _RANGED.active = spec.startswith("bytes=") and "," not in spec and not self._get_int_param("partNumber")
        try:
            return original_get(self)
        finally:
            _RANGED.active = False

    @functools.wraps(original_range)
    def handle_range(self: Any, request: Any, headers: Any, content: Any) -> Any:
        status, answer_headers, body = original_range(self, request, headers, content)
        # Where moto falls back to answering the whole object, give it real bytes.
        return status, answer_headers, bytes(body) if isinstance(body, _ObjectBytes) else body

    get_object._devstack_ranged = True  # type: ignore[attr-defined]
    FakeKey.value = property(value, whole_value.fset)  # type: ignore[assignment, method-assign]
    S3Response.get_object = get_object  # type: ignore[method-assign]
    S3Response._handle_range_header = handle_range  # type: ignore[method-assign, assignment]
