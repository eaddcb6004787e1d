"""The normalized notification: what every parser produces and every formatter reads."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


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

    @property
    def unrecognised(self) -> bool:
        return self.source in UNRECOGNISED_SOURCES
