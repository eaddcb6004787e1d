"""Publishing app events on the stack's EventBridge bus, one per state change read off AppTable's stream.

Why the stream (and not a call after each write): the event comes from the write itself, so a
transition that lost its conditional write sends nothing, and a function that dies after its
write still has its change published (the stream keeps it 24 h; the publisher retries until it
is on the bus). Redeliveries carry the same event id.
"""

from typing import Any

from practika import aws
from practika.events.model import SOURCE, AppEvent, of_change
from practika.observability import MetricName, logger, metrics


class PublishFailed(Exception):
    """EventBridge did not take the event; the stream record is retried."""


def publish_change(old: dict[str, Any] | None, new: dict[str, Any] | None, bus_name: str) -> AppEvent | None:
    """Publish the event this item change is, if it is one; the event, or None."""
    event = of_change(old, new)
    if event is None:
        return None
    entry = {"Source": SOURCE, "DetailType": event.type, "Detail": event.model_dump_json(), "EventBusName": bus_name}
    answer = aws.client("events").put_events(Entries=[entry])
    if answer.get("FailedEntryCount"):
        refused = answer["Entries"][0]
        raise PublishFailed(f"{refused.get('ErrorCode')}: {refused.get('ErrorMessage')}")
    metrics.add_metric(name=MetricName.APP_EVENTS_PUBLISHED, unit="Count", value=1)
    logger.info("event published", event_id=event.id, event_type=event.type)
    return event
