"""What CloudFormation, CloudWatch and SNS reject or silently drop at deploy time, and no linter checks.

Each rule cites the AWS documentation it comes from. Alarms and dashboards are read as the stack in
moto's CloudFormation resolved them (intrinsics and default parameters applied); policies are read
from the transformed template, where they name topics and keys by logical id.
"""

import json
import re
from typing import Any

import pytest

ALARM = "AWS::CloudWatch::Alarm"
COMPOSITE = "AWS::CloudWatch::CompositeAlarm"
ONE_DAY_S = 86_400
SEVEN_DAYS_S = 604_800
THREE_HOURS_S = 10_800


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def is_insights_query(query: dict[str, Any]) -> bool:
    return str(query.get("Expression", "")).lstrip().upper().startswith("SELECT")


def data_periods(alarm: dict[str, Any]) -> list[int | None]:
    """The period of every part of an alarm that fetches data (None where it is missing)."""
    if "Metrics" not in alarm:
        return [alarm.get("Period")]
    periods: list[int | None] = []
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            periods.append(query["MetricStat"].get("Period"))
        elif is_insights_query(query):
            periods.append(query.get("Period"))
    return periods


def period_is_allowed(period: Any) -> bool:
    # PutMetricAlarm, Period: "Valid values are 10, 20, 30, and any multiple of 60."
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    return isinstance(period, int) and period > 0 and (period in (10, 20, 30) or period % 60 == 0)


@pytest.fixture(scope="module")
def alarms(deployed) -> dict[str, dict[str, Any]]:
    return deployed.of_type(ALARM)


def test_every_alarm_fetching_data_says_over_which_period_and_the_period_is_allowed(alarms):
    # A Metrics Insights query in an alarm needs its own Period: CloudWatch answers "Period must not be
    # null" and the stack rolls back. MetricDataQuery, Period:
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDataQuery.html
    wrong = {
        lid: data_periods(alarm)
        for lid, alarm in alarms.items()
        if not all(period_is_allowed(p) for p in data_periods(alarm))
    }
    assert wrong == {}


def test_every_alarm_evaluates_at_most_one_day_or_seven_days_for_periods_of_an_hour_or_more(alarms):
    # PutMetricAlarm, Period: "Period multiplied by EvaluationPeriods can't be more than 604,800 seconds.
    # For alarms with a period of less than one hour (3,600 seconds), the total evaluation period can't be
    # longer than one day (86,400 seconds)."
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    too_long = {}
    for lid, alarm in alarms.items():
        periods = [p for p in data_periods(alarm) if isinstance(p, int)]
        window = max(periods, default=0) * int(alarm["EvaluationPeriods"])
        limit = SEVEN_DAYS_S if min(periods, default=0) >= 3600 else ONE_DAY_S
        if window > limit:
            too_long[lid] = window
    assert too_long == {}


def test_datapoints_to_alarm_never_exceed_the_evaluation_periods(alarms):
    # PutMetricAlarm, DatapointsToAlarm: the M of an "M out of N" alarm, N being EvaluationPeriods.
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    assert [
        lid
        for lid, a in alarms.items()
        if int(a.get("DatapointsToAlarm", a["EvaluationPeriods"])) > int(a["EvaluationPeriods"])
    ] == []


def test_metric_math_alarms_stay_within_their_query_and_metric_counts(alarms):
    # MetricDataQuery: "A single PutMetricAlarm call can include up to 20 MetricDataQuery structures ... as
    # many as 10 structures that contain a MetricStat parameter ... and as many as 10 structures that
    # contain the Expression parameter." Alarm limits: "can reference a maximum of 10 metrics."
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDataQuery.html
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html
    for lid, alarm in alarms.items():
        queries = alarm.get("Metrics", [])
        assert len(queries) <= 20, lid
        assert sum("MetricStat" in q for q in queries) <= 10, lid
        assert sum("Expression" in q for q in queries) <= 10, lid


def test_metric_math_alarms_return_exactly_one_series_and_name_queries_as_cloudwatch_allows(alarms):
    # MetricDataQuery, ReturnData: in PutMetricAlarm, true for the one result the alarm watches and false
    # for every other query; Id: "The first character must be a lowercase letter" (letters, numbers,
    # underscore). https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDataQuery.html
    for lid, alarm in alarms.items():
        queries = alarm.get("Metrics")
        if not queries:
            assert {"MetricName", "Namespace", "Period"} <= set(alarm), lid
            continue
        assert not {"MetricName", "Namespace", "Period", "Statistic"} & set(alarm), lid
        assert [q.get("ReturnData") for q in queries].count(True) == 1, lid
        assert all(q.get("ReturnData") in (True, False) for q in queries), lid
        assert all(re.fullmatch(r"[a-z][A-Za-z0-9_]*", q["Id"]) for q in queries), lid


def test_the_metrics_of_one_math_alarm_share_one_period(alarms):
    # Alarm data queries, metric math: "A math expression used for an alarm can include as many as 10
    # metrics. Each metric must be using the same period."
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-data-queries.html
    mixed = {lid: set(data_periods(a)) for lid, a in alarms.items() if len(set(data_periods(a))) > 1}
    assert mixed == {}


def test_metrics_insights_alarms_hold_one_query_and_look_back_at_most_three_hours(alarms):
    # Alarm limits (Metrics Insights): "Only the latest 3 hours of data can be used for evaluating the
    # alarm's conditions"; GetMetricData: "each GetMetricData operation can include only one query".
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html
    for lid, alarm in alarms.items():
        insights = [q for q in alarm.get("Metrics", []) if is_insights_query(q)]
        if not insights:
            continue
        assert len(insights) == 1, lid
        assert int(insights[0].get("Period") or 0) * int(alarm["EvaluationPeriods"]) <= THREE_HOURS_S, lid


def test_every_composite_rule_names_alarms_of_this_stack_and_at_most_100(deployed, alarms):
    # PutCompositeAlarm: the rule references alarms by name or ARN with ALARM(), OK() or
    # INSUFFICIENT_DATA(), and "can include as many as 100 underlying alarms".
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutCompositeAlarm.html
    composites = deployed.of_type(COMPOSITE)
    names = {a["AlarmName"] for a in alarms.values()} | {c["AlarmName"] for c in composites.values()}
    assert composites
    for lid, composite in composites.items():
        referenced = re.findall(r'(?:ALARM|OK|INSUFFICIENT_DATA)\("([^"]+)"\)', composite["AlarmRule"])
        assert referenced, lid
        assert len(set(referenced)) <= 100, lid
        assert set(referenced) <= names, (lid, set(referenced) - names)


DASHBOARD_WIDGET_TYPES = {"metric", "text", "log", "alarm", "explorer"}


@pytest.mark.parametrize("dashboard_id", ["ApplicationDashboard", "BusinessDashboard"])
def test_every_dashboard_body_is_a_widgets_object_cloudwatch_accepts(deployed, dashboard_id):
    # Dashboard body structure: a JSON string with a `widgets` array of 0 to 500 widgets; each widget has
    # a type, properties, and x (0-23), y, width (1-24) and height (1-1000) on a 24-column grid.
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
    body = json.loads(deployed.dashboards[dashboard_id])
    widgets = body["widgets"]
    assert 0 < len(widgets) <= 500
    for widget in widgets:
        assert widget["type"] in DASHBOARD_WIDGET_TYPES, widget
        assert isinstance(widget["properties"], dict), widget
        assert 1 <= widget["width"] <= 24 and 1 <= widget["height"] <= 1000, widget
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24 and widget["y"] >= 0, widget


@pytest.mark.parametrize("dashboard_id", ["ApplicationDashboard", "BusinessDashboard"])
def test_dashboard_widgets_carry_what_their_type_requires(deployed, dashboard_id):
    # Dashboard body structure: metric widgets need `metrics` (or an expression) and a region, log widgets a
    # `query` naming its log groups with SOURCE, alarm widgets an `alarms` array of at most 100 ARNs.
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html
    alarm_arns = {
        s.get_cfn_attribute("Arn") for s in deployed.stand_ins.values() if s.resource_type in (ALARM, COMPOSITE)
    }
    for widget in json.loads(deployed.dashboards[dashboard_id])["widgets"]:
        props = widget["properties"]
        if widget["type"] == "metric":
            assert props["metrics"] and props["region"], widget
        elif widget["type"] == "log":
            assert props["query"].startswith("SOURCE '") and props["region"], widget
        elif widget["type"] == "alarm":
            assert 0 < len(props["alarms"]) <= 100, widget
            assert set(props["alarms"]) <= alarm_arns, set(props["alarms"]) - alarm_arns
        elif widget["type"] == "text":
            assert props["markdown"], widget


# ------------------------------------------------------------------ who publishes to which topic


def ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def publishers(template: dict[str, Any]) -> dict[str, set[str]]:
    """Topic logical id -> service principals that publish to it: alarms, budgets and rules."""
    found: dict[str, set[str]] = {}
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] in (ALARM, COMPOSITE):
            for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
                for action in props.get(key, []):
                    found.setdefault(ref(action) or "", set()).add("cloudwatch.amazonaws.com")
        elif resource["Type"] == "AWS::Budgets::Budget":
            for notification in props.get("NotificationsWithSubscribers", []):
                for subscriber in notification["Subscribers"]:
                    found.setdefault(ref(subscriber["Address"]) or "", set()).add("budgets.amazonaws.com")
        elif resource["Type"] == "AWS::Events::Rule":
            for target in props.get("Targets", []):
                if "Fn::GetAtt" in target["Arn"]:
                    continue  # a queue of this stack (WebhookRule); its queue policy: test_template_security
                found.setdefault(ref(target["Arn"]) or "", set()).add("events.amazonaws.com")
    return found


def allowed(policy: dict[str, Any], principal: str, action: str) -> list[dict[str, Any]]:
    """The Allow statements of a policy that grant one service principal one action."""
    grants = []
    for statement in as_list(policy["Statement"]):
        services = as_list(statement.get("Principal", {}).get("Service", []))
        actions = as_list(statement.get("Action", []))
        matches = any(a == action or (a.endswith("*") and action.startswith(a[:-1])) for a in actions)
        if statement["Effect"] == "Allow" and principal in services and matches:
            grants.append(statement)
    return grants


def test_every_alarm_budget_and_rule_target_is_a_topic_of_this_stack(transformed):
    topics = {lid for lid, r in transformed["Resources"].items() if r["Type"] == "AWS::SNS::Topic"}
    assert set(publishers(transformed)) <= topics


def test_every_topic_policy_lets_each_publisher_of_the_topic_publish(transformed):
    # CloudWatch alarms, Budgets and EventBridge publish with their service principal, which the topic
    # policy must allow sns:Publish (SNS access policy use cases; Budgets "Creating an Amazon SNS topic for
    # budget notifications"; EventBridge "Amazon SNS permissions").
    # https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html
    # https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions
    resources = transformed["Resources"]
    policies = {
        ref(t): r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::SNS::TopicPolicy"
        for t in r["Properties"]["Topics"]
    }
    for topic, principals in publishers(transformed).items():
        for principal in principals:
            assert allowed(policies[topic], principal, "sns:Publish"), (topic, principal)


def test_every_encrypted_topic_key_lets_each_publisher_encrypt(transformed):
    # SNS "Enable compatibility between event sources from AWS services and encrypted topics": the key
    # policy must allow the publishing service kms:Decrypt and kms:GenerateDataKey*, or messages are dropped
    # without an error; aws:SourceAccount/aws:SourceArn conditions are not supported there for EventBridge.
    # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
    resources = transformed["Resources"]
    for topic, principals in publishers(transformed).items():
        key = ref(resources[topic]["Properties"].get("KmsMasterKeyId"))
        if key is None:
            continue
        key_policy = resources[key]["Properties"]["KeyPolicy"]
        for principal in principals:
            for action in ("kms:Decrypt", "kms:GenerateDataKey"):
                grants = allowed(key_policy, principal, action)
                assert grants, (topic, key, principal, action)
                if principal == "events.amazonaws.com":
                    assert all("Condition" not in g for g in grants), (key, principal)


# ------------------------------------------------------------------ IAM


def role_actions(template: dict[str, Any]) -> dict[str, set[str]]:
    """Role logical id -> every action its inline policies allow."""
    found: dict[str, set[str]] = {}
    for lid, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in as_list(policy["PolicyDocument"]["Statement"]):
                    found.setdefault(lid, set()).update(as_list(statement.get("Action", [])))
    return found


def test_no_role_is_granted_a_dynamodb_transaction_as_an_action(transformed):
    # "Permissions for Put, Update, Delete, and Get actions are governed by the permissions used for the
    # underlying PutItem, UpdateItem, DeleteItem, and GetItem operations. For the ConditionCheck action,
    # you can use the dynamodb:ConditionCheckItem permission": there is no TransactWriteItems action.
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
    granted = {
        lid: {a for a in actions if a.startswith("dynamodb:Transact")}
        for lid, actions in role_actions(transformed).items()
    }
    assert {lid: actions for lid, actions in granted.items() if actions} == {}


# ------------------------------------------------------------------ Lambda

ASYNC_PRINCIPALS = {"sns.amazonaws.com", "logs.amazonaws.com", "s3.amazonaws.com", "events.amazonaws.com"}


def test_every_function_invoked_asynchronously_keeps_failed_events_in_an_on_failure_destination(transformed):
    # Asynchronous invocation: Lambda retries a failed event twice and then discards it unless an
    # on-failure destination (or a dead-letter queue) is configured.
    # https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
    resources = transformed["Resources"]
    invoked_async = {
        ref(r["Properties"]["FunctionName"])
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] in ASYNC_PRINCIPALS
    }
    kept = {
        ref(r["Properties"]["FunctionName"])
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
        and r["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    }
    assert invoked_async
    assert invoked_async - kept == set()
