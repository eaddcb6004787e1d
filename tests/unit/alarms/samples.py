"""Notifications to test with: our own events/alarm-*.json and the outside samples, read in place."""

import json
from pathlib import Path
from typing import Any

from practika.alarms.parse import SnsMessage

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"
SHARED_SAMPLES = ROOT.parent / "shared" / "fixtures" / "alarms"
OWN_EVENTS = [*sorted(p.name for p in EVENTS.glob("alarm-*.json")), "sns-alarm.json"]


def sns_messages(document: dict[str, Any]) -> list[SnsMessage]:
    """Every SNS message in a Lambda SNS event, an SNS HTTP envelope, or a bare notification body."""
    if "Records" in document:
        raw = [record["Sns"] for record in document["Records"]]
    elif "Type" in document and "Message" in document:
        raw = [document]
    else:
        raw = [{"MessageId": "bare-notification", "Message": json.dumps(document)}]
    return [
        SnsMessage(
            message_id=sns["MessageId"],
            message=sns["Message"],
            subject=sns.get("Subject"),
            timestamp=sns.get("Timestamp"),
            topic_arn=sns.get("TopicArn"),
            attributes={k: str(v.get("Value")) for k, v in (sns.get("MessageAttributes") or {}).items()},
        )
        for sns in raw
    ]


def own(name: str) -> SnsMessage:
    return sns_messages(json.loads((EVENTS / name).read_text()))[0]


def shared_sample_files() -> list[Path]:
    return sorted(SHARED_SAMPLES.glob("*.json")) if SHARED_SAMPLES.is_dir() else []
