"""SNS message -> Notification, for every kind published to the alarm topic.

Recognised: CloudWatch metric alarms (single metric, metric math, anomaly detection), composite
alarms, CloudWatch alarm state changes from EventBridge (and the alarm-action event shape),
AWS Budgets alerts (plain text), GuardDuty findings and malware scan results, AWS Health events.
Anything else still becomes a readable notification (`source` json or text): nothing is dropped.
"""

import json
import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic import BaseModel, Field, field_validator

from practika.alarms import links
from practika.alarms.model import Notification, Severity, Source, State, clean_text, clip

MAX_FIELD_CHARS = 1000

_STATES = {state.value: state for state in State}
_OPERATORS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
    "LessThanLowerOrGreaterThanUpperThreshold": "outside the band",
    "LessThanLowerThreshold": "below the band",
    "GreaterThanUpperThreshold": "above the band",
}
# The alarm description conventions (docs/ALARMS.md): `Runbook: <url>` anywhere, `Severity: <level>` lines,
# and any AWS console link. A URL ends at whitespace, quotes or brackets; sentence punctuation is not part of it.
_URL = r"https?://[^\s<>\"'`|\[\]{}]+(?<![.,;:!?)])"
_RUNBOOK = re.compile(rf"\brunbook\s*[:=]\s*<?({_URL})>?[.,;]?", re.IGNORECASE)
_ANY_URL = re.compile(_URL, re.IGNORECASE)
_SEVERITY = re.compile(r"^\s*severity\s*[:=]\s*([a-z]+)\s*$", re.IGNORECASE | re.MULTILINE)
_BUDGET_FIELDS = (
    "Budget Type",
    "Budgeted Amount",
    "Alert Type",
    "Alert Threshold",
    "ACTUAL Amount",
    "FORECASTED Amount",
)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_BUDGET_LINE = re.compile(r"^([A-Z][A-Za-z ]{2,40}):\s*(.+)$", re.MULTILINE)


class SnsMessage(BaseModel):
    """The parts of an SNS delivery the router reads."""

    message_id: str
    message: str
    subject: str | None = None
    timestamp: str | None = None
    topic_arn: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)

    @field_validator("message", "subject", mode="before")
    @classmethod
    def _decodable(cls, value: object) -> object:
        # A message may carry bytes that were not UTF-8 (lone surrogates): replace them before anything
        # (json, quote, the HTTP body) tries to encode them.
        return clean_text(value) if isinstance(value, str) else value

    @field_validator("attributes", mode="before")
    @classmethod
    def _decodable_attributes(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        return {clean_text(str(k)): clean_text(str(v)) for k, v in value.items()}


def parse(sns: SnsMessage) -> Notification:
    try:
        body: Any = json.loads(sns.message)
    except ValueError:
        body = None
    if _SURROGATE_ESCAPE.search(sns.message):
        # JSON can spell a lone surrogate (\udc80): clean what it decoded to, as for the raw message.
        body = _decodable(body)
    if isinstance(body, dict):
        if "AlarmName" in body and "NewStateValue" in body:
            return _cloudwatch_alarm(sns, body)
        if body.get("source") == "aws.cloudwatch" and isinstance(body.get("alarmData"), dict):
            return _alarm_action_event(sns, body)
        if "detail-type" in body and isinstance(body.get("detail"), dict):
            return _eventbridge(sns, body)
        return _other_json(sns, body)
    if _is_budget(sns):
        return _budget(sns)
    return _text(sns)


# --- helpers -------------------------------------------------------------------------------------


def _decodable(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _decodable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decodable(v) for v in value]
    return value


def _time(*candidates: str | None) -> datetime:
    for value in candidates:
        if not value:
            continue
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _state(value: Any) -> State:
    return _STATES.get(str(value).upper(), State.INFO)


def _clip(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    return clip(text, limit)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class DescriptionFacts(NamedTuple):
    text: str | None = None
    runbook_url: str | None = None
    console_url: str | None = None
    severity: Severity | None = None


def _description_facts(description: Any) -> DescriptionFacts:
    """The description without its convention parts, the runbook and console links and the severity it names.

    The links are the only ones a formatter will make from a description: everything else in it
    is shown as text, escaped.
    """
    if not isinstance(description, str) or not description:
        return DescriptionFacts()
    runbook = _RUNBOOK.search(description)
    console = next((m.group(0) for m in _ANY_URL.finditer(description) if links.is_console_url(m.group(0))), None)
    severity_match = _SEVERITY.search(description)
    severity = None
    if severity_match and severity_match.group(1).lower() in Severity.__members__.values():
        severity = Severity(severity_match.group(1).lower())
    text = _SEVERITY.sub("", _RUNBOOK.sub("", description)).strip()
    return DescriptionFacts(
        text=text or None,
        runbook_url=runbook.group(1) if runbook else None,
        console_url=console,
        severity=severity,
    )


def _dimensions(dims: Any) -> str:
    if isinstance(dims, dict):  # EventBridge shape: {"InstanceId": "i-..."}
        pairs = [f"{k}={v}" for k, v in dims.items()]
    else:  # SNS shape: [{"name": "InstanceId", "value": "i-..."}]
        pairs = [f"{d.get('name')}={d.get('value')}" for d in dims or [] if isinstance(d, dict)]
    return ", ".join(pairs)


def _metric_stat(stat: dict[str, Any]) -> str:
    """`AWS/EC2 NetworkOut (InstanceId=i-1) Average 60 s`, from SNS or EventBridge metricStat shapes."""
    metric = stat.get("Metric") or stat.get("metric") or {}
    name = metric.get("MetricName") or metric.get("name") or "?"
    namespace = metric.get("Namespace") or metric.get("namespace") or "?"
    dims = _dimensions(metric.get("Dimensions") or metric.get("dimensions"))
    statistic = stat.get("Stat") or stat.get("stat") or ""
    period = stat.get("Period") or stat.get("period")
    parts = [f"{namespace} {name}", f"({dims})" if dims else "", statistic, f"{period} s" if period else ""]
    return " ".join(p for p in parts if p)


def _metrics_fields(metrics: list[dict[str, Any]], threshold_id: str | None) -> dict[str, str]:
    """Metric math and anomaly detection: one line per query, the returned ones marked."""
    lines = []
    for query in metrics[:20]:
        qid = query.get("Id") or query.get("id") or "?"
        expression = query.get("Expression") or query.get("expression")
        stat = query.get("MetricStat") or query.get("metricStat")
        label = query.get("Label") or query.get("label")
        what = expression if expression else _metric_stat(stat or {})
        marks = []
        if query.get("ReturnData", query.get("returnData")):
            marks.append("alarmed on")
        if threshold_id and qid == threshold_id:
            marks.append("threshold")
        line = f"{qid} = {what}" + (f" [{label}]" if label else "")
        lines.append(line + (f" ({', '.join(marks)})" if marks else ""))
    return {"Metrics": _clip("\n".join(lines))} if lines else {}


def _threshold(trigger: dict[str, Any]) -> str | None:
    operator = trigger.get("ComparisonOperator")
    symbol = _OPERATORS.get(str(operator), operator)
    if trigger.get("ThresholdMetricId"):
        return f"{symbol} {trigger['ThresholdMetricId']}"
    if trigger.get("Threshold") is None:
        return None
    return f"{symbol} {_number(trigger['Threshold'])}"


def _period(trigger: dict[str, Any]) -> str | None:
    period = trigger.get("Period")
    evaluations = trigger.get("EvaluationPeriods")
    if period is None and not trigger.get("Metrics"):
        return None
    datapoints = trigger.get("DatapointsToAlarm") or evaluations
    text = f"{period} s" if period is not None else "see metrics"
    return f"{text}, {datapoints} of {evaluations} datapoints" if evaluations else text


def _arn_name(arn: str) -> str:
    return arn.split(":alarm:", 1)[-1]


# --- CloudWatch alarms (SNS) ---------------------------------------------------------------------


def _cloudwatch_alarm(sns: SnsMessage, body: dict[str, Any]) -> Notification:
    name = str(body.get("AlarmName"))
    arn = body.get("AlarmArn")
    region = links.region_from_arn(arn) or links.region_code(body.get("Region"))
    region = region or links.region_from_arn(sns.topic_arn)
    described = _description_facts(body.get("AlarmDescription"))
    fields: dict[str, str] = {}
    trigger = body.get("Trigger") or {}
    if "AlarmRule" in body:
        kind = "composite"
        fields["Rule"] = _clip(str(body["AlarmRule"]))
        children = [
            f"{_arn_name(str(c.get('Arn', '?')))} -> {(c.get('State') or {}).get('Value', '?')}"
            for c in body.get("TriggeringChildren") or []
            if isinstance(c, dict)
        ]
        if children:
            fields["Triggered by"] = _clip("\n".join(children))
    elif trigger.get("Metrics"):
        kind = "anomaly" if trigger.get("ThresholdMetricId") else "metric_math"
        fields.update(_metrics_fields(trigger["Metrics"], trigger.get("ThresholdMetricId")))
    else:
        kind = "metric"
        metric = f"{trigger.get('Namespace', '?')} {trigger.get('MetricName', '?')}"
        dims = _dimensions(trigger.get("Dimensions"))
        fields["Metric"] = _clip(f"{metric} ({dims})" if dims else metric)
        statistic = trigger.get("Statistic") or trigger.get("ExtendedStatistic")
        if statistic:
            fields["Statistic"] = str(statistic).capitalize() if statistic.isupper() else str(statistic)
    if kind != "composite":
        if threshold := _threshold(trigger):
            fields["Threshold"] = threshold
        if period := _period(trigger):
            fields["Period"] = period
    state = _state(body.get("NewStateValue"))
    account = body.get("AWSAccountId")
    fields.update(_where(account, region))
    return Notification(
        message_id=sns.message_id,
        source=Source.CLOUDWATCH,
        kind=kind,
        title=name,
        state=state,
        previous_state=_state(body["OldStateValue"]) if body.get("OldStateValue") else None,
        severity=described.severity or Severity.HIGH,
        summary=str(body.get("NewStateReason") or ""),
        description=described.text,
        fields=fields,
        console_url=described.console_url or links.alarm_url(region, name),
        runbook_url=described.runbook_url,
        timestamp=_time(body.get("StateChangeTime"), sns.timestamp),
        thread_key=str(arn) if arn else f"alarm:{account}:{region}:{name}",
        alarm_name=name,
        account=str(account) if account else None,
        region=region,
    )


def _where(account: Any, region: str | None) -> dict[str, str]:
    fields = {}
    if account:
        fields["Account"] = str(account)
    if region:
        fields["Region"] = region
    return fields


# --- CloudWatch alarm state change (EventBridge) and the alarm-action event ---------------------


def _alarm_action_event(sns: SnsMessage, body: dict[str, Any]) -> Notification:
    return _alarm_detail(sns, body["alarmData"], body.get("alarmArn"), body.get("accountId"), body)


def _alarm_detail(
    sns: SnsMessage, detail: dict[str, Any], arn: str | None, account: Any, envelope: dict[str, Any]
) -> Notification:
    name = str(detail.get("alarmName") or _arn_name(arn or "alarm"))
    region = links.region_from_arn(arn) or links.region_code(envelope.get("region"))
    config = detail.get("configuration") or {}
    current = detail.get("state") or {}
    previous = detail.get("previousState") or {}
    described = _description_facts(config.get("description"))
    fields: dict[str, str] = {}
    if config.get("alarmRule"):
        kind = "composite"
        fields["Rule"] = _clip(str(config["alarmRule"]))
        children = _triggering_alarms(current.get("reasonData"))
        if children:
            fields["Triggered by"] = _clip("\n".join(children))
    else:
        metrics = config.get("metrics") or []
        is_anomaly = any("ANOMALY_DETECTION_BAND" in str(m.get("expression", "")) for m in metrics)
        single = len(metrics) == 1 and metrics[0].get("metricStat")
        kind = "anomaly" if is_anomaly else "metric" if single else "metric_math"
        if single:
            fields["Metric"] = _clip(_metric_stat(metrics[0]["metricStat"]))
        elif metrics:
            fields.update(_metrics_fields(metrics, None))
        threshold = _reason_threshold(current.get("reasonData"))
        if threshold:
            fields["Threshold"] = threshold
    fields.update(_where(account, region))
    state = _state(current.get("value"))
    previous_state = _state(previous["value"]) if previous.get("value") else None
    started = current.get("timestamp")
    duration = None
    if state is State.OK and previous_state is State.ALARM and previous.get("timestamp") and started:
        duration = max(0.0, (_time(started) - _time(previous["timestamp"])).total_seconds())
    return Notification(
        message_id=sns.message_id,
        source=Source.CLOUDWATCH,
        kind=kind,
        title=name,
        state=state,
        previous_state=previous_state,
        severity=described.severity or Severity.HIGH,
        summary=str(current.get("reason") or ""),
        description=described.text,
        fields=fields,
        console_url=described.console_url or links.alarm_url(region, name),
        runbook_url=described.runbook_url,
        timestamp=_time(started, envelope.get("time"), sns.timestamp),
        thread_key=str(arn) if arn else f"alarm:{account}:{region}:{name}",
        alarm_name=name,
        account=str(account) if account else None,
        region=region,
        alarm_duration_s=duration,
    )


def _reason_data(raw: Any) -> dict[str, Any]:
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _triggering_alarms(raw: Any) -> list[str]:
    alarms = _reason_data(raw).get("triggeringAlarms") or []
    return [
        f"{_arn_name(str(a.get('arn', '?')))} -> {(a.get('state') or {}).get('value', '?')}"
        for a in alarms
        if isinstance(a, dict)
    ]


def _reason_threshold(raw: Any) -> str | None:
    threshold = _reason_data(raw).get("threshold")
    return _number(threshold) if threshold is not None else None


# --- EventBridge events -------------------------------------------------------------------------


def _eventbridge(sns: SnsMessage, body: dict[str, Any]) -> Notification:
    source = body.get("source")
    detail_type = str(body.get("detail-type"))
    detail = body["detail"]
    if source == "aws.cloudwatch" and detail_type == "CloudWatch Alarm State Change":
        resources = body.get("resources") or []
        arn = resources[0] if resources else None
        return _alarm_detail(sns, detail, arn, body.get("account"), body)
    if source == "aws.guardduty":
        return _guardduty(sns, body, detail)
    if source == "aws.health":
        return _health(sns, body, detail)
    return _generic_event(sns, body, detail)


def _guardduty_severity(score: Any) -> Severity:
    # GuardDuty's bands: 9.0-10 critical, 7.0-8.9 high, 4.0-6.9 medium, 1.0-3.9 low.
    try:
        value = float(score)
    except (TypeError, ValueError):
        return Severity.MEDIUM
    if value >= 9:
        return Severity.CRITICAL
    if value >= 7:
        return Severity.HIGH
    if value >= 4:
        return Severity.MEDIUM
    return Severity.LOW


def _guardduty(sns: SnsMessage, body: dict[str, Any], detail: dict[str, Any]) -> Notification:
    region = links.region_code(detail.get("region") or body.get("region"))
    account = detail.get("accountId") or body.get("account")
    fields: dict[str, str] = {}
    if "scanResultDetails" in detail:
        result = detail.get("scanResultDetails") or {}
        status = str(result.get("scanResultStatus", "UNKNOWN"))
        threats = [str(t.get("name")) for t in result.get("threats") or [] if isinstance(t, dict)]
        obj = detail.get("s3ObjectDetails") or {}
        location = f"s3://{obj.get('bucketName', '?')}/{obj.get('objectKey', '?')}"
        fields["Object"] = _clip(location)
        fields["Scan result"] = status
        if threats:
            fields["Threats"] = _clip(", ".join(threats))
        fields.update(_where(account, region))
        found = status == "THREATS_FOUND"
        return Notification(
            message_id=sns.message_id,
            source=Source.GUARDDUTY,
            kind="malware_scan",
            title=f"GuardDuty malware scan: {status.replace('_', ' ').lower()}",
            state=State.INFO,
            severity=Severity.HIGH if found else Severity.INFO,
            summary=f"{location}: {', '.join(threats) or status}",
            fields=fields,
            console_url=links.guardduty_url(region, None),
            timestamp=_time(body.get("time"), sns.timestamp),
            account=str(account) if account else None,
            region=region,
        )
    resource = detail.get("resource") or {}
    service = detail.get("service") or {}
    fields["Finding type"] = str(detail.get("type", "?"))
    fields["Severity score"] = _number(detail.get("severity", "?"))
    if resource.get("resourceType"):
        instance = (resource.get("instanceDetails") or {}).get("instanceId")
        fields["Resource"] = f"{resource['resourceType']}" + (f" {instance}" if instance else "")
    if service.get("count"):
        fields["Count"] = str(service["count"])
    if service.get("eventLastSeen"):
        fields["Last seen"] = str(service["eventLastSeen"])
    fields.update(_where(account, region))
    finding_id = detail.get("id")
    return Notification(
        message_id=sns.message_id,
        source=Source.GUARDDUTY,
        kind="finding",
        title=str(detail.get("title") or detail.get("type") or "GuardDuty finding"),
        state=State.INFO,
        severity=_guardduty_severity(detail.get("severity")),
        summary=str(detail.get("description") or ""),
        fields=fields,
        console_url=links.guardduty_url(region, finding_id),
        timestamp=_time(detail.get("updatedAt"), body.get("time"), sns.timestamp),
        thread_key=detail.get("arn") or None,
        account=str(account) if account else None,
        region=region,
    )


_HEALTH_SEVERITY = {
    "issue": Severity.HIGH,
    "investigation": Severity.MEDIUM,
    "scheduledChange": Severity.MEDIUM,
    "accountNotification": Severity.LOW,
}


def _health(sns: SnsMessage, body: dict[str, Any], detail: dict[str, Any]) -> Notification:
    region = links.region_code(body.get("region"))
    account = body.get("account")
    descriptions = detail.get("eventDescription") or []
    text = next(
        (str(d.get("latestDescription")) for d in descriptions if isinstance(d, dict)),
        "",
    )
    affected = detail.get("affectedEntities") or []
    entities = [str(e.get("entityValue")) for e in affected if isinstance(e, dict)]
    fields = {
        "Service": str(detail.get("service", "?")),
        "Event type": str(detail.get("eventTypeCode", "?")),
        "Category": str(detail.get("eventTypeCategory", "?")),
    }
    if detail.get("statusCode"):
        fields["Status"] = str(detail["statusCode"])
    if detail.get("startTime"):
        fields["Start"] = str(detail["startTime"])
    if detail.get("endTime"):
        fields["End"] = str(detail["endTime"])
    if entities:
        fields["Affected"] = _clip(", ".join(entities))
    fields.update(_where(account, region))
    closed = str(detail.get("statusCode", "")).lower() == "closed"
    event_arn = detail.get("eventArn")
    return Notification(
        message_id=sns.message_id,
        source=Source.HEALTH,
        kind=str(detail.get("eventTypeCategory") or "event"),
        title=f"AWS Health: {detail.get('service', '?')} {detail.get('eventTypeCode', '')}".strip(),
        state=State.OK if closed else State.INFO,
        severity=_HEALTH_SEVERITY.get(str(detail.get("eventTypeCategory")), Severity.MEDIUM),
        summary=text,
        fields=fields,
        console_url=links.health_url(event_arn),
        timestamp=_time(body.get("time"), sns.timestamp),
        thread_key=event_arn,
        account=str(account) if account else None,
        region=region,
    )


def _flatten(value: Any, prefix: str = "", out: dict[str, str] | None = None) -> dict[str, str]:
    """Scalar leaves of a JSON document as `a.b.c` -> value, for showing unknown events."""
    out = {} if out is None else out
    if len(out) >= 25:
        return out
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value and all(not isinstance(v, dict | list) for v in value):
        out[prefix or "value"] = _clip(", ".join(str(v) for v in value), 300)
    elif isinstance(value, list):
        for index, item in enumerate(value[:5]):
            _flatten(item, f"{prefix}[{index}]", out)
    elif value is not None and value != "":
        out[prefix or "value"] = _clip(str(value), 300)
    return out


def _generic_event(sns: SnsMessage, body: dict[str, Any], detail: dict[str, Any]) -> Notification:
    region = links.region_code(body.get("region"))
    fields = _flatten(detail)
    fields.update(_where(body.get("account"), region))
    state_word = str(detail.get("state") or detail.get("status") or "").upper()
    failed = state_word in {"FAILED", "FAILURE", "ERROR", "TIMED_OUT"}
    return Notification(
        message_id=sns.message_id,
        source=Source.EVENTBRIDGE,
        kind=str(body.get("source") or "event"),
        title=str(body.get("detail-type") or sns.subject or "EventBridge event"),
        state=State.INFO,
        severity=Severity.HIGH if failed else Severity.INFO,
        summary=sns.subject or "",
        fields=fields,
        timestamp=_time(body.get("time"), sns.timestamp),
        account=str(body["account"]) if body.get("account") else None,
        region=region,
    )


def _other_json(sns: SnsMessage, body: dict[str, Any]) -> Notification:
    return Notification(
        message_id=sns.message_id,
        source=Source.JSON,
        kind="json",
        title=sns.subject or "Notification",
        state=State.INFO,
        severity=Severity.INFO,
        summary=_clip(json.dumps(body, indent=2, ensure_ascii=False), 3000),
        fields=_flatten(body),
        timestamp=_time(sns.timestamp),
        region=links.region_from_arn(sns.topic_arn),
    )


# --- plain text: AWS Budgets, and anything else ---------------------------------------------------


def _is_budget(sns: SnsMessage) -> bool:
    return (sns.subject or "").startswith("AWS Budgets") or sns.message.lstrip().startswith("AWS Budget")


def _budget(sns: SnsMessage) -> Notification:
    facts = {key.strip(): value.strip() for key, value in _BUDGET_LINE.findall(sns.message)}
    name = facts.get("Budget Name") or (sns.subject or "AWS Budgets alert").removeprefix("AWS Budgets: ")
    alert_type = facts.get("Alert Type", "").upper()
    fields = {key: _clip(facts[key], 200) for key in _BUDGET_FIELDS if key in facts}
    account = re.search(r"AWS Account (\d{12})", sns.message)
    if account:
        fields["Account"] = account.group(1)
    first_paragraph = next((p.strip() for p in sns.message.split("\n\n") if p.strip().startswith("You requested")), "")
    return Notification(
        message_id=sns.message_id,
        source=Source.BUDGETS,
        kind=alert_type.lower() or "budget",
        title=sns.subject or f"AWS Budgets: {name}",
        state=State.ALARM,
        severity=Severity.HIGH if alert_type == "ACTUAL" else Severity.MEDIUM,
        summary=first_paragraph or _clip(sns.message, 3000),
        fields=fields,
        console_url=links.budgets_url(links.region_from_arn(sns.topic_arn)),
        timestamp=_time(sns.timestamp),
        alarm_name=name,
        account=account.group(1) if account else None,
    )


def _text(sns: SnsMessage) -> Notification:
    first_line = next((line.strip() for line in sns.message.splitlines() if line.strip()), "")
    fields = {key: _clip(value, 300) for key, value in list(sns.attributes.items())[:10]}
    return Notification(
        message_id=sns.message_id,
        source=Source.TEXT,
        kind="text",
        title=_clip(sns.subject or first_line or "Notification", 200),
        state=State.INFO,
        severity=Severity.INFO,
        summary=sns.message,
        fields=fields,
        timestamp=_time(sns.timestamp),
        region=links.region_from_arn(sns.topic_arn),
    )
