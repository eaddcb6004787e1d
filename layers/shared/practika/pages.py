"""Listing pages: newest first from AppTable's `ListIndex`, with an opaque cursor.

Items that can be listed carry `list_pk` (the list they belong to: an owner's videos, a video's
clips) and `list_sk` (`<created_at>#<id>`, so the index keeps them in creation order). Only
those items are in the sparse index; counters and markers are not.

A cursor is the index position of the last item answered, base64url JSON. It is checked to
belong to the list asked for, so no cursor can open someone else's list.
"""

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from practika.errors import InvalidRequest

LIST_INDEX = "ListIndex"
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Queries one page may take when a filter skips items; a short page still carries its cursor.
MAX_QUERIES = 5
_CURSOR_FIELDS = {"pk", "sk", "list_pk", "list_sk"}


def list_key(list_pk: str, created_at: str, item_id: str) -> dict[str, str]:
    return {"list_pk": list_pk, "list_sk": f"{created_at}#{item_id}"}


def encode_cursor(position: Mapping[str, Any]) -> str:
    raw = json.dumps({name: position[name] for name in sorted(_CURSOR_FIELDS)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, list_pk: str) -> dict[str, str]:
    """The position a cursor names, or InvalidRequest for anything not made by `encode_cursor` for this list."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        position = None
    valid = (
        isinstance(position, dict)
        and set(position) == _CURSOR_FIELDS
        and all(isinstance(value, str) for value in position.values())
        and position["list_pk"] == list_pk
    )
    if not valid:
        raise InvalidRequest("the cursor is not valid for this list", details={"cursor": cursor[:200]})
    return dict(position)


def newest_first(
    table: Any, list_pk: str, *, limit: int, cursor: str | None, status: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` items of the list, newest first, and the cursor of the next page (None at the end)."""
    query: dict[str, Any] = {
        "IndexName": LIST_INDEX,
        "KeyConditionExpression": Key("list_pk").eq(list_pk),
        "ScanIndexForward": False,
    }
    if status:
        query["FilterExpression"] = Attr("status").eq(status)
    if cursor:
        query["ExclusiveStartKey"] = decode_cursor(cursor, list_pk)
    items: list[dict[str, Any]] = []
    last: dict[str, Any] | None = None
    for _ in range(MAX_QUERIES):
        # Limit counts items read before the filter, so a page never overshoots `limit`.
        page = table.query(**query, Limit=limit - len(items))
        items.extend(page["Items"])
        last = page.get("LastEvaluatedKey")
        if last is None or len(items) >= limit:
            break
        query["ExclusiveStartKey"] = last
    return items, encode_cursor(last) if last else None
