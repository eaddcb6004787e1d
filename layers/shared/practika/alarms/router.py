"""Alarms: the router, one SNS message parsed, routed and posted once per destination.

A destination that still fails after retries fails the invocation, so Lambda retries it and then
the on-failure destination (AlarmRouterDLQ) keeps the message; posts that already succeeded are
not repeated (idempotency per SNS MessageId and destination).
"""

import time
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from practika import aws
from practika.alarms import threads
from practika.alarms.delivery import DeliveryError, post_json
from practika.alarms.format import render, webhook_url
from practika.alarms.parse import SnsMessage, parse
from practika.alarms.routing import Target, targets
from practika.alarms.webhooks import webhook_urls
from practika.observability import MetricName, count_by, logger, metrics, tracer
from practika.settings import cached, router_settings

# Longer than SNS and Lambda keep retrying one message (async retries end within 6 hours).
IDEMPOTENCY_TTL_S = 24 * 3600


class AlarmDeliveryFailed(Exception):
    """Raised so the invocation fails and the message reaches the on-failure destination."""


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "replayed": True}


idempotency_config = IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_TTL_S, response_hook=_mark_replayed)


def _post(delivery: dict[str, str], *, url: str, payload: dict[str, Any], deadline: float) -> dict[str, Any]:
    result = post_json(url, payload, deadline=deadline)
    return {"status": result.status, "attempts": result.attempts, "latency_ms": result.latency_ms}


@cached
def _post_once() -> Any:
    """`_post`, idempotent per `delivery` ({message_id, destination}); the table is read when first needed."""
    store = DynamoDBPersistenceLayer(
        table_name=router_settings().idempotency_table, boto3_client=aws.client("dynamodb")
    )
    return idempotent_function(
        _post, data_keyword_argument="delivery", persistence_store=store, config=idempotency_config
    )


def sns_message(sns: Mapping[str, Any]) -> SnsMessage:
    """The parts the router reads of one SNS delivery (a Lambda record's `Sns`, or an SNS HTTP envelope)."""
    attributes = sns.get("MessageAttributes") or {}
    return SnsMessage(
        message_id=sns["MessageId"],
        message=sns["Message"],
        subject=sns.get("Subject"),
        timestamp=sns.get("Timestamp"),
        topic_arn=sns.get("TopicArn"),
        attributes={k: str(v.get("Value")) for k, v in attributes.items() if isinstance(v, dict)},
    )


def _deliver(target: Target, message_id: str, url: str, payload: dict[str, Any], deadline: float) -> bool:
    kind = target.destination.type
    name = target.name
    try:
        result = _post_once()(
            delivery={"message_id": message_id, "destination": target.name},
            url=url,
            payload=payload,
            deadline=deadline,
        )
    except DeliveryError as error:
        count_by(MetricName.ALARM_NOTIFICATIONS_FAILED, "destination_type", kind.value)
        logger.error(
            "delivery failed",
            destination=name,
            destination_type=kind.value,
            status=error.status,
            attempts=error.attempts,
            permanent=error.permanent,
        )
        return False
    except IdempotencyAlreadyInProgressError:
        logger.warning("delivery in progress elsewhere", destination=name, destination_type=kind.value)
        return False
    if result.get("replayed"):
        logger.info("already delivered", destination=name, destination_type=kind.value)
        return True
    count_by(MetricName.ALARM_NOTIFICATIONS_DELIVERED, "destination_type", kind.value)
    count_by(
        MetricName.DELIVERY_LATENCY_MS,
        "destination_type",
        kind.value,
        amount=result["latency_ms"],
        unit=MetricUnit.Milliseconds,
    )
    logger.info(
        "notification delivered",
        destination=name,
        destination_type=kind.value,
        status=result["status"],
        attempts=result["attempts"],
    )
    return True


@tracer.capture_method
def route(sns: SnsMessage, remaining_ms: Callable[[], int]) -> list[str]:
    """Deliver one SNS message; answers the destinations it reached, raises if any failed."""
    settings = router_settings()
    logger.append_keys(message_id=sns.message_id)
    tracer.put_annotation(key="message_id", value=sns.message_id)
    notification = parse(sns)
    if notification.unrecognised:
        metrics.add_metric(name=MetricName.UNKNOWN_NOTIFICATION, unit="Count", value=1)
    notification = threads.track(settings.table_name, notification)
    plan = targets(settings.chat_routes, notification)
    logger.info(
        "notification routed",
        source=notification.source.value,
        kind=notification.kind,
        state=notification.state.value,
        severity=notification.severity.value,
        destinations=[t.name for t in plan],
    )
    if not plan:
        return []
    urls = webhook_urls(settings.chat_webhooks_secret, settings.chat_webhooks_max_age_s)
    deadline = time.monotonic() + (remaining_ms() - settings.safety_margin_ms) / 1000
    reached: list[str] = []
    failed: list[str] = []
    for index, target in enumerate(plan):
        # Each destination gets a fair share of the time left, so one dead chat cannot starve the rest.
        share = (deadline - time.monotonic()) / (len(plan) - index)
        url = urls.get(target.name)
        if url is None:
            count_by(MetricName.ALARM_NOTIFICATIONS_FAILED, "destination_type", target.destination.type.value)
            logger.error("destination has no webhook url", destination=target.name)
            failed.append(target.name)
            continue
        payload = render(notification, target.destination.type, target.mention)
        post_url = webhook_url(target.destination.type, url)
        ok = _deliver(target, sns.message_id, post_url, payload, time.monotonic() + share)
        (reached if ok else failed).append(target.name)
    if failed:
        raise AlarmDeliveryFailed(f"not delivered to {', '.join(failed)}")
    return reached
