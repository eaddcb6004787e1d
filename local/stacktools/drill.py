"""`make drill`: every alarm of template.yaml, as CloudWatch would publish it, through AlarmTopic to chat.

Reads every AWS::CloudWatch::Alarm and AWS::CloudWatch::CompositeAlarm from the template (no hand
list), builds the SNS message CloudWatch sends on an OK -> ALARM transition (Trigger with the metric,
or Trigger.Metrics for metric math and Metrics Insights, or AlarmRule and TriggeringChildren for a
composite), publishes it to the local stack's AlarmTopic and waits until the router's post for each
alarm is in the chat log. Exits 1 if any alarm did not arrive. Uses the stack `make local` runs, or
starts one and stops it afterwards.
"""

import contextlib
import json
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from devstack.launcher import RunningStack, running_or_started
from devstack.template import ACCOUNT_ID, ROOT, Resolver, evaluate_conditions, load_template
from stacktools.client import StackClient, WaitTimedOut, wait_for

STATE_DIR = ROOT / ".local"
ALARM_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}
OPERATOR_WORDS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}
# CloudWatch spells statistics in upper snake case in the SNS message.
STATISTICS = {
    "Sum": "SUM",
    "Average": "AVERAGE",
    "Maximum": "MAXIMUM",
    "Minimum": "MINIMUM",
    "SampleCount": "SAMPLE_COUNT",
}
# The router's headline is "<emoji> ALARM: <alarm name>" on every chat platform; alarm names start with
# the stack name (letters, digits, hyphens), whatever it is.
HEADLINE = re.compile(r"ALARM: ([A-Za-z0-9-]+)")
CHILD = re.compile(r'ALARM\("?([^")]+)"?\)')


class DrillResolver(Resolver):
    """Resolves against the running stack; what it does not create locally (the HTTP API id, the
    alarms themselves) gets the name or a stand-in CloudWatch would show."""

    def ref(self, name: str) -> str:
        try:
            return super().ref(name)
        except KeyError:
            return f"local-{name}"

    def get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return super().get_att(logical_id, attribute)
        except KeyError:
            return f"local-{logical_id}-{attribute}"


@dataclass
class Drill:
    logical_id: str
    name: str
    kind: str
    message: dict[str, Any]
    arrived: list[dict[str, Any]] = field(default_factory=list)

    @property
    def severity(self) -> str:
        found = re.search(r"^Severity: (\w+)$", self.message.get("AlarmDescription", ""), re.MULTILINE)
        return found.group(1) if found else "-"

    @property
    def runbook(self) -> str:
        found = re.search(r"^Runbook: \S+#(\S+)$", self.message.get("AlarmDescription", ""), re.MULTILINE)
        return found.group(1) if found else "-"


def resolver_for(stack: RunningStack, template: dict[str, Any]) -> DrillResolver:
    parameters = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    parameters.update(stack.description.get("parameters") or {})
    resolver = DrillResolver(region=stack.description["region"], parameters=parameters)
    evaluate_conditions(template, resolver)
    for logical_id, physical in stack.resources.items():
        resolver.refs[logical_id] = physical
        if physical.startswith("http"):  # a queue URL
            resolver.attributes[(logical_id, "QueueName")] = physical.rsplit("/", 1)[-1]
    region = resolver.region
    alarms = {lid: r for lid, r in template["Resources"].items() if r["Type"] in ALARM_TYPES}
    for logical_id, resource in alarms.items():
        name = str(resolver.resolve(resource["Properties"]["AlarmName"]))
        resolver.refs[logical_id] = name
        resolver.attributes[(logical_id, "Arn")] = alarm_arn(region, name)
    return resolver


def alarm_arn(region: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{ACCOUNT_ID}:alarm:{name}"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def breaching(threshold: float, operator: str) -> float:
    if operator.startswith("Greater"):
        return round(threshold * 1.5, 3) if threshold > 0 else 1.0
    return round(threshold / 2, 3)


def state_reason(props: dict[str, Any], threshold: float, now: datetime) -> str:
    evaluations = int(props.get("EvaluationPeriods", 1))
    datapoints = int(props.get("DatapointsToAlarm", evaluations))
    operator = str(props["ComparisonOperator"])
    value = breaching(threshold, operator)
    period = int(props.get("Period") or _math_period(props))
    points = ", ".join(
        f"{value} ({(now - timedelta(seconds=period * (i + 1))).strftime('%d/%m/%y %H:%M:00')})"
        for i in range(datapoints)
    )
    verb = "was" if datapoints == 1 else "were"
    plural = "datapoint" if datapoints == 1 else "datapoints"
    return (
        f"Threshold Crossed: {datapoints} out of the last {evaluations} datapoints [{points}] {verb} "
        f"{OPERATOR_WORDS.get(operator, operator)} the threshold ({float(threshold)}) "
        f"(minimum {datapoints} {plural} for OK -> ALARM transition)."
    )


def _math_period(props: dict[str, Any]) -> int:
    for query in props.get("Metrics") or []:
        period = query.get("Period") or (query.get("MetricStat") or {}).get("Period")
        if period:
            return int(period)
    return 60


def _dimensions(dimensions: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    return [{"value": str(d["Value"]), "name": str(d["Name"])} for d in dimensions or []]


def trigger(props: dict[str, Any], threshold: float) -> dict[str, Any]:
    common: dict[str, Any] = {
        "Period": int(props.get("Period") or _math_period(props)),
        "EvaluationPeriods": int(props.get("EvaluationPeriods", 1)),
        "DatapointsToAlarm": int(props.get("DatapointsToAlarm", props.get("EvaluationPeriods", 1))),
        "ComparisonOperator": props["ComparisonOperator"],
        "Threshold": float(threshold),
        "TreatMissingData": props.get("TreatMissingData", "missing"),
        "EvaluateLowSampleCountPercentile": "",
    }
    if props.get("Metrics"):
        metrics = []
        for query in props["Metrics"]:
            entry: dict[str, Any] = {"Id": query["Id"], "ReturnData": bool(query.get("ReturnData", True))}
            if "Expression" in query:
                entry["Expression"] = query["Expression"]
            if "Label" in query:
                entry["Label"] = query["Label"]
            if "Period" in query:
                entry["Period"] = int(query["Period"])
            if "MetricStat" in query:
                stat = query["MetricStat"]
                entry["MetricStat"] = {
                    "Metric": {
                        "Dimensions": _dimensions(stat["Metric"].get("Dimensions")),
                        "MetricName": stat["Metric"]["MetricName"],
                        "Namespace": stat["Metric"]["Namespace"],
                    },
                    "Period": int(stat["Period"]),
                    "Stat": stat["Stat"],
                }
            metrics.append(entry)
        return {**common, "Metrics": metrics}
    single: dict[str, Any] = {
        "MetricName": props["MetricName"],
        "Namespace": props["Namespace"],
        "Unit": None,
        "Dimensions": _dimensions(props.get("Dimensions")),
    }
    if "ExtendedStatistic" in props:
        single.update({"StatisticType": "ExtendedStatistic", "ExtendedStatistic": props["ExtendedStatistic"]})
    else:
        statistic = str(props["Statistic"])
        single.update({"StatisticType": "Statistic", "Statistic": STATISTICS.get(statistic, statistic.upper())})
    return {**single, **common}


def alarm_message(props: dict[str, Any], region: str, now: datetime) -> dict[str, Any]:
    name = str(props["AlarmName"])
    message: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": props.get("AlarmDescription"),
        "AWSAccountId": ACCOUNT_ID,
        "AlarmConfigurationUpdatedTimestamp": stamp(now - timedelta(days=1)),
        "NewStateValue": "ALARM",
        "StateChangeTime": stamp(now),
        "Region": REGION_NAMES.get(region, region),
        "AlarmArn": alarm_arn(region, name),
        "OldStateValue": "OK",
        "OKActions": props.get("OKActions") or [],
        "AlarmActions": props.get("AlarmActions") or [],
        "InsufficientDataActions": [],
    }
    if "AlarmRule" in props:
        rule = str(props["AlarmRule"])
        children = CHILD.findall(rule)
        changed = now - timedelta(seconds=30)
        message["AlarmRule"] = rule
        message["NewStateReason"] = (
            f"{alarm_arn(region, children[-1])} transitioned to ALARM at "
            f"{changed.strftime('%A %d %B, %Y %H:%M:%S')} UTC"
            if children
            else "Rule evaluated to ALARM"
        )
        message["TriggeringChildren"] = [
            {"Arn": alarm_arn(region, child), "State": {"Value": "ALARM", "Timestamp": stamp(changed)}}
            for child in children
        ]
        return message
    threshold = float(props["Threshold"])
    message["NewStateReason"] = state_reason(props, threshold, now)
    message["Trigger"] = trigger(props, threshold)
    return message


def drills_from_template(stack: RunningStack) -> list[Drill]:
    template = load_template()
    resolver = resolver_for(stack, template)
    now = datetime.now(UTC)
    drills = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] not in ALARM_TYPES:
            continue
        if "Condition" in resource and not resolver.conditions.get(resource["Condition"]):
            continue
        props = resolver.resolve(resource["Properties"])
        if resource["Type"] == "AWS::CloudWatch::CompositeAlarm":
            kind = "composite"
        else:
            kind = "metric math" if props.get("Metrics") else "metric"
        drills.append(Drill(logical_id, str(props["AlarmName"]), kind, alarm_message(props, resolver.region, now)))
    return drills


def run(stack: RunningStack, timeout_s: float) -> bool:
    drills = drills_from_template(stack)
    client = StackClient(stack.description)
    sns = client.aws("sns")
    before = client.chat_log_length()
    topic = stack.resources["AlarmTopic"]
    print(f"publishing {len(drills)} alarms from template.yaml to {topic}", flush=True)
    for drill in drills:
        subject = f'ALARM: "{drill.name}" in {drill.message["Region"]}'
        sns.publish(TopicArn=topic, Subject=subject[:100], Message=json.dumps(drill.message))

    by_name = {drill.name: drill for drill in drills}

    def all_arrived() -> bool:
        for drill in drills:
            drill.arrived.clear()
        for record in client.chat_records(skip=before):
            names = set(HEADLINE.findall(json.dumps(record.get("body"), ensure_ascii=False)))
            for name in names & by_name.keys():
                by_name[name].arrived.append(record)
        return all(any(r["status"] < 300 for r in d.arrived) for d in drills)

    with contextlib.suppress(WaitTimedOut):  # the table below names what is missing
        wait_for(all_arrived, timeout_s=timeout_s, interval_s=1, what="every alarm in chat")

    width = max(len(d.name) for d in drills)
    missing = 0
    print()
    for drill in drills:
        delivered = sorted({r["path"].strip("/").split("/")[0] for r in drill.arrived if r["status"] < 300})
        ok = bool(delivered)
        missing += not ok
        where = ", ".join(delivered) if ok else "DID NOT ARRIVE"
        print(
            f"  {'ok ' if ok else 'MISSING'} {drill.name:<{width}}  {drill.kind:<11} {drill.severity:<8} "
            f"#{drill.runbook:<30} -> {where}"
        )
    kinds = {kind: sum(d.kind == kind for d in drills) for kind in ("metric", "metric math", "composite")}
    print(
        f"\n{len(drills) - missing} of {len(drills)} alarms arrived in chat "
        f"({', '.join(f'{n} {k}' for k, n in kinds.items())}); chat log {stack.description['chat_log']}"
    )
    return missing == 0


def main() -> None:
    stack = running_or_started(STATE_DIR)
    try:
        ok = run(stack, timeout_s=float(sys.argv[1]) if len(sys.argv) > 1 else 300)
    finally:
        stack.stop()
    if not ok:
        print("drill FAILED: some alarms never reached chat", file=sys.stderr)
        sys.exit(1)
    print("drill OK: every alarm of the template reached chat")


if __name__ == "__main__":
    main()
