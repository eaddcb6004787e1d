"""When each alarm went into ALARM, by thread key (the alarm ARN), so its OK can say how long it lasted.

AppTable item: pk `THREAD#<key>`, sk `THREAD`, `alarm_at` / `ok_at` (epoch seconds), TTL `expires_at`.
A repeated ALARM keeps the first start; an ALARM after an OK starts a new episode.
"""

from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from practika import aws
from practika.alarms.model import Notification, State
from practika.observability import logger, tracer

KEEP_S = 90 * 24 * 3600
# No alarm start known yet, or the last one has been followed by an OK.
_NEW_EPISODE = "attribute_not_exists(alarm_at) OR (attribute_exists(ok_at) AND ok_at >= alarm_at)"


def _key(thread_key: str) -> dict[str, str]:
    return {"pk": f"THREAD#{thread_key}", "sk": "THREAD"}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@tracer.capture_method
def track(table_name: str, n: Notification) -> Notification:
    """Record an ALARM's start, or answer an OK with how long its alarm lasted.

    Losing this bookkeeping only loses the duration line, never the alarm: failures are logged.
    """
    if not n.thread_key or n.state not in (State.ALARM, State.OK):
        return n
    table: Any = aws.table(table_name)
    at = _epoch(n.timestamp)
    try:
        if n.state is State.ALARM:
            _start(table, n.thread_key, at)
            return n
        item = table.update_item(
            Key=_key(n.thread_key),
            UpdateExpression="SET ok_at = :at, expires_at = :exp",
            ExpressionAttributeValues={":at": at, ":exp": at + KEEP_S},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except (ClientError, BotoCoreError) as error:
        logger.warning("alarm thread not recorded", error=type(error).__name__, thread_key=n.thread_key)
        return n
    started = item.get("alarm_at")
    if n.alarm_duration_s is None and started is not None and int(started) <= at:
        return n.model_copy(update={"alarm_duration_s": float(at - int(started))})
    return n


def _start(table: Any, thread_key: str, at: int) -> None:
    try:
        table.update_item(
            Key=_key(thread_key),
            UpdateExpression="SET alarm_at = :at, expires_at = :exp",
            ConditionExpression=_NEW_EPISODE,
            ExpressionAttributeValues={":at": at, ":exp": at + KEEP_S},
        )
    except ClientError as error:
        if aws.error_code(error) != "ConditionalCheckFailedException":
            raise
