"""template.yaml's observability: alarms for everything that can fail, their actions and runbooks,
SLO burn-rate alarms, budget, GuardDuty rule, log groups, saved queries and dashboards, and every
custom metric they name is one the code emits (MetricName) or a metric filter of the template makes."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from devstack.template import load_template
from practika.observability import NAMESPACE, MetricName

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
ROUTER_TOPIC = {"Ref": "AlarmFallbackTopic"}
ALARM_TOPIC = {"Ref": "AlarmTopic"}
PSEUDO = {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName"}


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r.get("Properties") or {} for lid, r in RESOURCES.items() if r["Type"] == kind}


FUNCTIONS = of_type("AWS::Serverless::Function")
# The forwarder copies other functions' security events; its own log holds no video, clip or security lines.
FORWARDER = "SecurityForwarderFunction"
APP_LOG_GROUPS = {f["LoggingConfig"]["LogGroup"]["Ref"] for lid, f in FUNCTIONS.items() if lid != FORWARDER}
ALARMS = of_type("AWS::CloudWatch::Alarm")
COMPOSITES = of_type("AWS::CloudWatch::CompositeAlarm")
QUEUES = of_type("AWS::SQS::Queue")
GLOBAL_FUNCTION = TEMPLATE["Globals"]["Function"]


def metric_stats(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric an alarm reads: {namespace, name, dims, stat}, single-metric and metric math alike."""
    if "MetricName" in alarm:
        return [
            {
                "namespace": alarm["Namespace"],
                "name": alarm["MetricName"],
                "dims": {d["Name"]: d["Value"] for d in alarm.get("Dimensions") or []},
                "stat": alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
            }
        ]
    found = []
    for query in alarm.get("Metrics") or []:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            found.append(
                {
                    "namespace": metric["Namespace"],
                    "name": metric["MetricName"],
                    "dims": {d["Name"]: d["Value"] for d in metric.get("Dimensions") or []},
                    "stat": query["MetricStat"]["Stat"],
                }
            )
    return found


def text_of(value: Any) -> str:
    """A template value as text: the string of a !Sub, or the JSON of anything else."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return value if isinstance(value, str) else json.dumps(value)


INSIGHTS = re.compile(r"SELECT\s+\w+\((\w+)\)\s+FROM\s+(?:SCHEMA\()?\"?([\w/]+)", re.IGNORECASE)


def insights_metrics(alarm: dict[str, Any]) -> list[tuple[str, str]]:
    """(namespace, metric) of every Metrics Insights query in an alarm."""
    return [
        (ns, name)
        for query in alarm.get("Metrics") or []
        if "Expression" in query
        for name, ns in INSIGHTS.findall(text_of(query["Expression"]))
    ]


def alarms_on(metric: str, **dims: Any) -> list[str]:
    return [
        lid
        for lid, alarm in ALARMS.items()
        if any(m["name"] == metric and all(m["dims"].get(k) == v for k, v in dims.items()) for m in metric_stats(alarm))
    ]


def timeout_s(function: dict[str, Any]) -> int:
    return int(function.get("Timeout", GLOBAL_FUNCTION["Timeout"]))


def is_api(function: dict[str, Any]) -> bool:
    return any(e["Type"] == "HttpApi" for e in (function.get("Events") or {}).values())


def dead_letter_queues() -> set[str]:
    dlqs = set()
    for queue in QUEUES.values():
        target = (queue.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
        if target:
            dlqs.add(target["Fn::GetAtt"][0])
    for function in FUNCTIONS.values():
        on_failure = (
            ((function.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get("OnFailure") or {}
        ).get("Destination")
        if on_failure:
            dlqs.add(on_failure["Fn::GetAtt"][0])
        for event in (function.get("Events") or {}).values():  # stream sources' failed-batch queues
            stream_failure = (event["Properties"].get("DestinationConfig") or {}).get("OnFailure") or {}
            if stream_failure:
                dlqs.add(stream_failure["Destination"]["Fn::GetAtt"][0])
    return dlqs


def on_router(lid: str) -> bool:
    """Alarms about the router itself: they cannot be delivered through it."""
    alarm = ALARMS[lid]
    text = json.dumps(alarm.get("Metrics") or alarm.get("Dimensions"))
    return "AlarmRouter" in text or "alarm-router" in text


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# ---------------------------------------------------------------- functions


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_function_has_an_errors_alarm_any_error_for_workers_and_a_rate_for_apis(function_id):
    ids = alarms_on("Errors", FunctionName={"Ref": function_id})
    assert ids, f"{function_id} has no Errors alarm"
    alarm = ALARMS[ids[0]]
    if is_api(FUNCTIONS[function_id]):
        assert alarms_on("Invocations", FunctionName={"Ref": function_id}) == ids, "an API error alarm is a rate"
        assert "errors / invocations" in alarm["Metrics"][0]["Expression"]
    else:
        assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_function_has_a_throttles_alarm(function_id):
    assert alarms_on("Throttles", FunctionName={"Ref": function_id})


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_function_alarms_when_its_p95_duration_passes_80_percent_of_its_timeout(function_id):
    ids = alarms_on("Duration", FunctionName={"Ref": function_id})
    assert ids, f"{function_id} has no Duration alarm"
    alarm = ALARMS[ids[0]]
    assert alarm["ExtendedStatistic"] == "p95"
    assert alarm["Threshold"] == pytest.approx(0.8 * timeout_s(FUNCTIONS[function_id]) * 1000)


# ---------------------------------------------------------------- API, queues, storage


def test_the_http_api_alarms_on_a_5xx_rate_above_5_percent_over_5_minutes():
    (lid,) = alarms_on("5xx", ApiId={"Ref": "HttpApi"})[:1]
    alarm = ALARMS[lid]
    assert {m["name"] for m in metric_stats(alarm)} == {"5xx", "Count"}
    assert all(q.get("MetricStat", {}).get("Period", 300) == 300 for q in alarm["Metrics"])
    assert alarm["Threshold"] == 5


def test_the_http_api_alarms_on_p99_latency_above_one_second():
    latency = alarms_on("Latency", ApiId={"Ref": "HttpApi"})
    ids = [lid for lid in latency if ALARMS[lid].get("ExtendedStatistic") == "p99"]
    assert ids and ALARMS[ids[0]]["Threshold"] == 1000


@pytest.mark.parametrize("queue_id", sorted(set(QUEUES) - dead_letter_queues()))
def test_every_work_queue_alarms_on_the_age_of_its_oldest_message(queue_id):
    ids = alarms_on("ApproximateAgeOfOldestMessage", QueueName={"Fn::GetAtt": [queue_id, "QueueName"]})
    assert ids and ALARMS[ids[0]]["Threshold"] == {"Ref": "QueueAgeAlarmSeconds"}


@pytest.mark.parametrize("dlq_id", sorted(dead_letter_queues()))
def test_every_dead_letter_queue_alarms_on_any_visible_message(dlq_id):
    assert dlq_id in {"IngestDLQ", "ClipDLQ", "AlarmRouterDLQ"} or dlq_id.endswith("DLQ")
    ids = alarms_on("ApproximateNumberOfMessagesVisible", QueueName={"Fn::GetAtt": [dlq_id, "QueueName"]})
    assert ids, f"{dlq_id} has no alarm"
    alarm = ALARMS[ids[0]]
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_storage_of_both_buckets_is_alarmed_above_a_parameter():
    (lid,) = alarms_on("BucketSizeBytes", BucketName={"Ref": "UploadsBucket"})
    assert alarms_on("BucketSizeBytes", BucketName={"Ref": "ClipsBucket"}) == [lid]
    assert ALARMS[lid]["Threshold"] == {"Ref": "StorageAlarmBytes"}


# ---------------------------------------------------------------- business and security signals


def test_the_validation_failure_rate_alarm_divides_validation_failures_by_uploads_above_20_percent():
    alarm = ALARMS["ValidationFailureRateAlarm"]
    assert (NAMESPACE, MetricName.VALIDATION_FAILURES) in insights_metrics(alarm)
    assert [m["name"] for m in metric_stats(alarm)] == [MetricName.VIDEO_UPLOADS]
    assert alarm["Threshold"] == 20


def test_clip_failures_are_alarmed():
    assert (NAMESPACE, MetricName.CLIP_FAILURES) in insights_metrics(ALARMS["ClipFailuresAlarm"])


def test_security_events_are_counted_in_every_function_log_group_and_alarmed():
    filters = of_type("AWS::Logs::MetricFilter")
    counted = {f["LogGroupName"]["Ref"] for f in filters.values() if "security_event" in f["FilterPattern"]}
    assert counted == APP_LOG_GROUPS
    assert alarms_on("SecurityEvents")


def test_security_events_of_every_function_are_forwarded_to_the_90_day_security_log_group():
    forwarder = FUNCTIONS[FORWARDER]
    subscribed = {
        e["Properties"]["LogGroupName"]["Ref"]
        for e in forwarder["Events"].values()
        if e["Type"] == "CloudWatchLogs" and "security_event" in e["Properties"]["FilterPattern"]
    }
    assert subscribed == APP_LOG_GROUPS
    assert forwarder["Environment"]["Variables"]["SECURITY_LOG_GROUP"] == {"Ref": "SecurityLogGroup"}
    assert RESOURCES["SecurityLogGroup"]["Properties"]["RetentionInDays"] == 90


def test_metric_filters_match_log_messages_the_code_writes():
    code = "\n".join(p.read_text() for d in ("layers/shared", "functions") for p in (ROOT / d).rglob("*.py"))
    for lid, metric_filter in of_type("AWS::Logs::MetricFilter").items():
        for message in re.findall(r'\$\.message = "([^"]+)"', metric_filter["FilterPattern"]):
            assert f'"{message}"' in code, f"{lid} counts a log message no code writes: {message!r}"


def test_metric_dimensions_name_services_the_functions_really_have():
    services = {f["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] for f in FUNCTIONS.values()}
    used = {m["dims"]["service"] for a in ALARMS.values() for m in metric_stats(a) if "service" in m["dims"]}
    used |= {
        s
        for a in ALARMS.values()
        for q in a.get("Metrics") or []
        if "Expression" in q
        for s in re.findall(r"service = '([\w-]+)'", text_of(q["Expression"]))
    }
    assert used and used <= services


# ---------------------------------------------------------------- actions, missing data, runbooks


def test_every_alarm_notifies_alarm_topic_on_alarm_and_ok_except_the_routers_own():
    for lid, alarm in {**ALARMS, **COMPOSITES}.items():
        if "AlarmActions" not in alarm:
            continue
        topic = ROUTER_TOPIC if lid in ALARMS and on_router(lid) else ALARM_TOPIC
        assert alarm["AlarmActions"] == [topic], lid
        assert alarm["OKActions"] == [topic], lid


def test_alarms_on_the_router_itself_go_to_the_fallback_topic():
    router_alarms = [lid for lid in ALARMS if on_router(lid)]
    assert {"AlarmRouterFunctionErrorsAlarm", "AlarmRouterDLQDepthAlarm", "AlarmNotificationsFailedAlarm"} <= set(
        router_alarms
    )
    assert all(ALARMS[lid]["AlarmActions"] == [ROUTER_TOPIC] for lid in router_alarms)


def test_alarms_without_actions_are_slo_windows_that_a_composite_with_actions_watches():
    children = {
        child
        for c in COMPOSITES.values()
        if c.get("AlarmActions")
        for child in re.findall(r'ALARM\("\$\{(\w+)\}"\)', text_of(c["AlarmRule"]))
    }
    silent = {lid for lid, alarm in ALARMS.items() if not alarm.get("AlarmActions")}
    assert silent <= children
    assert silent, "the SLO windows notify only through their composites"


def test_the_fallback_topic_mails_only_when_an_address_is_given():
    subscription = RESOURCES["AlarmFallbackEmail"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["TopicArn"] == ROUTER_TOPIC
    assert PARAMETERS["AlarmEmail"]["Default"] == ""


def test_every_metric_alarm_says_how_to_treat_missing_data():
    assert all(
        alarm.get("TreatMissingData") in {"notBreaching", "breaching", "ignore", "missing"} for alarm in ALARMS.values()
    )


def test_every_alarm_description_ends_with_a_runbook_link_to_a_reliability_section():
    headings = {slug(h) for h in re.findall(r"^#{2,4} (.+)$", (ROOT / "RELIABILITY.md").read_text(), re.MULTILINE)}
    for lid, alarm in {**ALARMS, **COMPOSITES}.items():
        description = text_of(alarm["AlarmDescription"])
        found = re.search(r"\nRunbook: \$\{RunbookBaseUrl\}#([\w-]+)$", description)
        assert found, f"{lid} has no Runbook line at the end of its description"
        assert found.group(1) in headings, f"{lid} links #{found.group(1)}, which RELIABILITY.md lacks"
        assert re.search(r"\nSeverity: (critical|high|medium|low|info)\n", description), lid


# ---------------------------------------------------------------- SLOs


@pytest.mark.parametrize("slo", ["ApiAvailability", "UploadPipeline", "ClipPipeline"])
def test_every_slo_has_fast_and_slow_multi_window_burn_rate_composites(slo):
    target = f"{slo}Target"
    assert target in PARAMETERS
    windows = {"1h": (3600, 14.4), "5m": (300, 14.4), "6h": (21600, 6), "30m": (1800, 6)}
    for window, (period, factor) in windows.items():
        alarm = ALARMS[f"{slo}Burn{window}Alarm"]
        assert alarm["Threshold"] == factor
        assert {q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q} == {period}
        assert f"${{{target}}}" in text_of(alarm["Metrics"][0]["Expression"])
    for speed, (long, short) in {"Fast": ("1h", "5m"), "Slow": ("6h", "30m")}.items():
        rule = text_of(COMPOSITES[f"{slo}{speed}BurnAlarm"]["AlarmRule"])
        assert rule == f'ALARM("${{{slo}Burn{long}Alarm}}") AND ALARM("${{{slo}Burn{short}Alarm}}")'


def test_slo_windows_longer_than_three_hours_use_no_metrics_insights_query():
    for lid, alarm in ALARMS.items():
        periods = [q.get("Period") or q.get("MetricStat", {}).get("Period") for q in alarm.get("Metrics") or []]
        if any(p and p > 3 * 3600 for p in periods):
            assert not insights_metrics(alarm), f"{lid}: Metrics Insights alarms see only 3 hours"


# ---------------------------------------------------------------- cost, GuardDuty, logs, queries


def test_a_monthly_budget_warns_at_80_and_100_percent_actual_and_100_percent_forecast():
    (budget,) = of_type("AWS::Budgets::Budget").values()
    assert budget["Budget"]["TimeUnit"] == "MONTHLY"
    assert budget["Budget"]["BudgetLimit"] == {"Amount": {"Ref": "MonthlyBudgetUsd"}, "Unit": "USD"}
    assert PARAMETERS["MonthlyBudgetUsd"]["Default"] == 200
    notifications = {
        (n["Notification"]["NotificationType"], n["Notification"]["Threshold"])
        for n in budget["NotificationsWithSubscribers"]
    }
    assert notifications == {("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100)}
    assert all(
        n["Subscribers"] == [{"SubscriptionType": "SNS", "Address": ALARM_TOPIC}]
        for n in budget["NotificationsWithSubscribers"]
    )


def test_guardduty_findings_at_or_above_the_severity_parameter_go_to_the_alarm_topic():
    (rule,) = [r for r in of_type("AWS::Events::Rule").values() if "aws.guardduty" in text_of(r["EventPattern"])]
    pattern = text_of(rule["EventPattern"]).replace("${GuardDutyMinSeverity}", "7")
    assert json.loads(pattern)["detail"]["severity"] == [{"numeric": [">=", 7]}]
    assert [t["Arn"] for t in rule["Targets"]] == [ALARM_TOPIC]
    assert RESOURCES["GuardDutyDetector"]["Condition"] == "CreateGuardDutyDetector"


def test_every_function_logs_to_its_own_log_group_with_the_retention_parameter():
    groups = of_type("AWS::Logs::LogGroup")
    used = [f["LoggingConfig"]["LogGroup"]["Ref"] for f in FUNCTIONS.values()]
    assert len(set(used)) == len(FUNCTIONS)
    assert all(groups[g]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in used)
    assert PARAMETERS["LogRetentionDays"]["Default"] == 30
    assert groups["SecurityLogGroup"]["RetentionInDays"] == 90


def test_saved_queries_cover_errors_latency_rejections_one_video_and_cold_starts():
    queries = {text_of(q["Name"]).split("/")[-1]: q for q in of_type("AWS::Logs::QueryDefinition").values()}
    assert {
        "errors-by-function",
        "slowest-invocations",
        "rejected-uploads-by-reason",
        "one-video-across-functions",
        "cold-starts",
    } <= set(queries)
    assert "video_id" in queries["one-video-across-functions"]["QueryString"]
    assert len(queries["one-video-across-functions"]["LogGroupNames"]) == len(APP_LOG_GROUPS)


# ---------------------------------------------------------------- dashboards and metric names


DASHBOARDS = of_type("AWS::CloudWatch::Dashboard")


def resolvable(name: str) -> bool:
    base = name.split(".", 1)[0]
    return name in PSEUDO or base in PARAMETERS or base in RESOURCES


@pytest.mark.parametrize("dashboard_id", ["ApplicationDashboard", "BusinessDashboard"])
def test_dashboards_are_json_whose_every_substitution_resolves(dashboard_id):
    body = text_of(DASHBOARDS[dashboard_id]["DashboardBody"])
    names = re.findall(r"\$\{([^}]+)\}", body)
    assert names and all(resolvable(n) for n in names), [n for n in names if not resolvable(n)]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "1", body))["widgets"]
    assert len(widgets) >= 8


def test_the_application_dashboard_shows_every_function_the_api_and_every_queue():
    body = text_of(DASHBOARDS["ApplicationDashboard"]["DashboardBody"])
    for lid in [*FUNCTIONS, *QUEUES, "HttpApi"]:
        assert f"${{{lid}" in body, lid
    for metric in (
        "Invocations",
        "Errors",
        "Throttles",
        "ConcurrentExecutions",
        "Duration",
        "4xx",
        "5xx",
        "Latency",
        "ApproximateAgeOfOldestMessage",
        "ApproximateNumberOfMessagesVisible",
    ):
        assert f'"{metric}"' in body, metric


def dashboard_metrics() -> set[tuple[str, str]]:
    found = set()
    for dashboard in DASHBOARDS.values():
        body = json.loads(re.sub(r"\$\{[^}]+\}", "1", text_of(dashboard["DashboardBody"])))
        for widget in body["widgets"]:
            previous: list[Any] = []
            for row in widget["properties"].get("metrics") or []:
                plain = [v for v in row if not isinstance(v, dict)]
                if plain:
                    if plain[0] == "...":
                        plain = previous
                    elif plain[0] == ".":
                        plain = [previous[0], *plain[1:]]
                    found.add((plain[0], plain[1]))
                    previous = plain
                for option in row:
                    if isinstance(option, dict) and "expression" in option:
                        found |= {(ns, name) for name, ns in INSIGHTS.findall(option["expression"])}
    # The substitution above turned "Practika/Logs/${Environment}" into "Practika/Logs/1".
    return {(re.sub(r"/1$", "/${Environment}", ns), name) for ns, name in found}


def alarm_metrics() -> set[tuple[str, str]]:
    found = set()
    for alarm in ALARMS.values():
        found |= {(text_of(m["namespace"]), m["name"]) for m in metric_stats(alarm)}
        found |= set(insights_metrics(alarm))
    return found


def test_every_custom_metric_in_an_alarm_or_dashboard_is_emitted_by_the_code_or_a_metric_filter():
    from_filters = {
        (text_of(t["MetricNamespace"]), t["MetricName"])
        for f in of_type("AWS::Logs::MetricFilter").values()
        for t in f["MetricTransformations"]
    }
    named = alarm_metrics() | dashboard_metrics()
    custom = {(ns, name) for ns, name in named if not ns.startswith("AWS/")}
    assert {name for ns, name in custom if ns == NAMESPACE} <= {m.value for m in MetricName}
    assert {(ns, name) for ns, name in custom if ns != NAMESPACE} <= from_filters
    assert {
        MetricName.VIDEO_UPLOADS,
        MetricName.VALIDATION_FAILURES,
        MetricName.CLIP_FAILURES,
        MetricName.ALARM_NOTIFICATIONS_FAILED,
    } <= {name for _, name in custom}
