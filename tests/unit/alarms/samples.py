"""Notifications to test with: our own events/alarm-*.json and the outside samples in tests/fixtures/alarms.

Every sample becomes SNS messages the way the router sees them: as a Lambda SNS event, converted
by the router's own `sns_message`, so the tests cannot drift from what the router parses.
"""

import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.data_classes import SNSEvent

from practika.alarms.parse import SnsMessage
from practika.alarms.router import sns_message

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"
SAMPLES = ROOT / "tests" / "fixtures" / "alarms"
OWN_EVENTS = [*sorted(p.name for p in EVENTS.glob("alarm-*.json")), "sns-alarm.json"]


def lambda_event(document: dict[str, Any]) -> dict[str, Any]:
    """A Lambda SNS event from a Lambda SNS event, an SNS HTTP envelope, or a bare notification body."""
    if "Records" in document:
        return document
    if "Type" in document and "Message" in document:
        return {"Records": [{"EventSource": "aws:sns", "Sns": document}]}
    sns = {"MessageId": "bare-notification", "Message": json.dumps(document)}
    return {"Records": [{"EventSource": "aws:sns", "Sns": sns}]}


def sns_messages(document: dict[str, Any]) -> list[SnsMessage]:
    # As the handler does (functions/alarm_router/app.py).
    return [sns_message(record.sns.raw_event) for record in SNSEvent(lambda_event(document)).records]


def own(name: str) -> SnsMessage:
    return sns_messages(json.loads((EVENTS / name).read_text()))[0]


def sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*.json"))
