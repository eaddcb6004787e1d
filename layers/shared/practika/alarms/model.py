"""The normalized notification: what every parser produces and every formatter reads.

Its text comes from whoever published to the alarm topic, so the model makes every string safe
to encode (undecodable bytes and control characters become U+FFFD) and bounded, and keeps only
links that are well-formed http(s) URLs. Formatters still escape all of it for their platform.
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from practika.alarms import links

TRUNCATED = "… (truncated)"
MAX_FIELDS = 50
FIELD_LABEL_CHARS = 200
FIELD_VALUE_CHARS = 2000
# Bounds per field; any other string field gets OTHER_CHARS. Big enough for every real alarm.
_CHARS = {"title": 1000, "summary": 40_000, "description": 10_000}
_OTHER_CHARS = 2048
# C0 and C1 control characters other than tab and newline: no chat renders them usefully.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str) -> str:
    """`text` that encodes as UTF-8: lone surrogates (bytes that were not UTF-8) and control characters
    become U+FFFD, line ends become \\n."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        # Paired surrogates join into their character; a lone one becomes U+FFFD.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _CONTROL.sub("\ufffd", text)


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending with a visible marker when cut."""
    if len(text) <= limit:
        return text
    if limit <= len(TRUNCATED):
        return text[:limit]
    return text[: limit - len(TRUNCATED)] + TRUNCATED


def bound_fields(fields: dict[str, str], label_chars: int, value_chars: int) -> dict[str, str]:
    """`fields` with labels and values clipped; labels that become equal when clipped stay apart
    (numbered), so no field silently replaces another."""
    bounded: dict[str, str] = {}
    for label, value in fields.items():
        shown = clip(label, label_chars)
        if shown in bounded:
            suffix = f" #{len(bounded) + 1}"
            shown = clip(label, max(0, label_chars - len(suffix))) + suffix
        bounded[shown] = clip(value, value_chars)
    return bounded


class State(StrEnum):
    ALARM = "ALARM"
    OK = "OK"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
    INFO = "INFO"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class Source(StrEnum):
    """Where a notification comes from; `json` and `text` are the ones no parser recognised."""

    CLOUDWATCH = "cloudwatch"
    BUDGETS = "budgets"
    GUARDDUTY = "guardduty"
    HEALTH = "health"
    EVENTBRIDGE = "eventbridge"
    JSON = "json"
    TEXT = "text"


UNRECOGNISED_SOURCES = frozenset({Source.EVENTBRIDGE, Source.JSON, Source.TEXT})


class Notification(BaseModel):
    message_id: str
    source: Source
    # Finer than source: metric, metric_math, anomaly, composite, finding, malware_scan, ...
    kind: str
    title: str
    state: State
    previous_state: State | None = None
    severity: Severity
    summary: str = ""
    description: str | None = None
    # Ordered label -> value pairs shown as fields (Metric, Statistic, Threshold, Period, Rule, ...).
    fields: dict[str, str] = Field(default_factory=dict)
    console_url: str | None = None
    runbook_url: str | None = None
    timestamp: datetime
    # Ties an OK to its ALARM (the alarm ARN); None when the notification stands alone.
    thread_key: str | None = None
    alarm_name: str | None = None
    account: str | None = None
    region: str | None = None
    # How long the alarm lasted, known on an OK when its ALARM was seen (or the event says so).
    alarm_duration_s: float | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _safe_and_bounded(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or ""
        if name in ("console_url", "runbook_url"):
            return links.safe_url(value) if isinstance(value, str) else value
        if isinstance(value, str):
            return clip(clean_text(value), _CHARS.get(name, _OTHER_CHARS))
        if isinstance(value, dict):
            cleaned = {clean_text(str(k)): clean_text(str(v)) for k, v in list(value.items())[:MAX_FIELDS]}
            return bound_fields(cleaned, FIELD_LABEL_CHARS, FIELD_VALUE_CHARS)
        return value

    @property
    def unrecognised(self) -> bool:
        return self.source in UNRECOGNISED_SOURCES
