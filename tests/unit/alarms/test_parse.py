"""Every kind of notification published to the alarm topic becomes one readable Notification."""

import json
from datetime import UTC, datetime

import pytest

from practika.alarms.model import Notification, Severity, Source, State
from practika.alarms.parse import SnsMessage, parse
from tests.unit.alarms.samples import own


def test_a_single_metric_alarm_names_metric_threshold_period_runbook_and_severity():
    n = parse(own("alarm-metric.json"))

    assert (n.source, n.kind, n.state, n.previous_state) == (Source.CLOUDWATCH, "metric", State.ALARM, State.OK)
    assert n.fields["Metric"] == "AWS/Lambda Errors (FunctionName=practika-dev-ValidateFunction)"
    assert n.fields["Statistic"] == "Sum"
    assert n.fields["Threshold"] == ">= 1"
    assert n.fields["Period"] == "60 s, 1 of 1 datapoints"
    assert n.severity is Severity.CRITICAL
    assert n.runbook_url == "https://runbooks.example.com/practika/validate-errors"
    assert n.description == "The validate worker is failing on uploads."
    assert n.thread_key == "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:practika-dev-ValidateFunction-Errors"
    assert n.timestamp == datetime(2026, 3, 2, 10, 15, 30, 512000, tzinfo=UTC)


def test_the_console_link_is_regional_and_names_the_alarm():
    n = parse(own("alarm-metric.json"))

    assert n.console_url == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
        "#alarmsV2:alarm/practika-dev-ValidateFunction-Errors"
    )


def test_a_govcloud_alarm_links_to_the_govcloud_console():
    message = own("alarm-metric.json").message.replace("eu-west-1", "us-gov-west-1")
    n = parse(SnsMessage(message_id="m", message=message))

    assert n.console_url is not None
    assert n.console_url.startswith("https://us-gov-west-1.console.amazonaws-us-gov.com/cloudwatch/")


def test_a_metric_math_alarm_lists_each_query_and_marks_the_alarmed_expression():
    n = parse(own("alarm-metric-math.json"))

    assert n.kind == "metric_math"
    lines = n.fields["Metrics"].splitlines()
    assert lines[0] == "rate = 100 * failures / MAX([requests, 1]) [Clip failure %] (alarmed on)"
    assert lines[1].startswith("failures = Practika ClipFailures (service=clip, environment=dev) Sum 300 s")
    assert n.fields["Threshold"] == "> 5"
    assert n.fields["Period"] == "300 s, 2 of 3 datapoints"


def test_an_anomaly_alarm_shows_the_band_it_left():
    n = parse(own("alarm-anomaly.json"))

    assert n.kind == "anomaly"
    assert n.fields["Threshold"] == "outside the band ad1"
    assert "ANOMALY_DETECTION_BAND(m1, 2)" in n.fields["Metrics"]
    assert n.severity is Severity.MEDIUM


def test_a_composite_alarm_shows_its_rule_and_the_children_that_triggered_it():
    n = parse(own("alarm-composite.json"))

    assert n.kind == "composite"
    assert n.fields["Rule"].startswith("ALARM(arn:aws:cloudwatch:eu-west-1:123456789012:alarm:practika-dev-IngestDLQ")
    assert n.fields["Triggered by"] == "practika-dev-IngestDLQ-Depth -> ALARM"
    assert "Threshold" not in n.fields


def test_an_eventbridge_state_change_to_ok_knows_how_long_the_alarm_lasted():
    n = parse(own("alarm-eventbridge-state-change.json"))

    assert (n.source, n.state, n.previous_state) == (Source.CLOUDWATCH, State.OK, State.ALARM)
    assert n.alarm_duration_s == pytest.approx(840, abs=1)
    assert n.fields["Metric"] == "AWS/ApiGateway 5xx (ApiId=a1b2c3d4e5) Sum 60 s"
    assert n.fields["Threshold"] == "5"
    assert n.thread_key == "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:practika-dev-HttpApi-5xx"


def test_a_budget_alert_in_plain_text_becomes_a_budget_alarm_with_its_amounts():
    n = parse(own("alarm-budget.json"))

    assert (n.source, n.state, n.severity) == (Source.BUDGETS, State.ALARM, Severity.MEDIUM)
    assert n.fields["FORECASTED Amount"] == "$96.40"
    assert n.fields["Alert Threshold"] == "> $80.00"
    assert n.alarm_name == "practika-dev-monthly"
    assert n.summary.startswith("You requested that we alert you")


def test_a_guardduty_finding_maps_its_score_to_a_severity_and_links_the_finding():
    n = parse(own("alarm-guardduty.json"))

    assert (n.source, n.kind, n.severity) == (Source.GUARDDUTY, "finding", Severity.HIGH)
    assert n.title.startswith("Credentials for instance role")
    assert n.console_url is not None
    assert "fId=d2c6a1f0e9b84f7a8c3b2a1d0e9f8c7b" in n.console_url


def test_an_aws_health_issue_is_high_severity_information():
    n = parse(own("alarm-health.json"))

    assert (n.source, n.state, n.severity) == (Source.HEALTH, State.INFO, Severity.HIGH)
    assert "increased invocation error rates" in n.summary


@pytest.mark.parametrize(
    ("event", "source"), [("alarm-other-json.json", Source.JSON), ("alarm-text.json", Source.TEXT)]
)
def test_unknown_input_still_becomes_a_readable_unrecognised_notification(event, source):
    n = parse(own(event))

    assert n.source is source
    assert n.unrecognised
    assert n.title
    assert n.summary


def test_a_message_with_no_timestamp_anywhere_is_dated_now():
    n = parse(SnsMessage(message_id="m", message="hello"))

    assert abs((datetime.now(UTC) - n.timestamp).total_seconds()) < 5


def test_an_unknown_severity_word_in_the_description_keeps_the_default():
    message = own("alarm-metric.json").message.replace("Severity: critical", "Severity: apocalyptic")
    n = parse(SnsMessage(message_id="m", message=message))

    assert n.severity is Severity.HIGH


def _described(description: str):
    body = json.loads(own("alarm-metric.json").message)
    body["AlarmDescription"] = description
    return parse(SnsMessage(message_id="m", message=json.dumps(body)))


def test_a_runbook_in_the_middle_of_a_description_line_is_found_and_taken_out_of_the_text():
    n = _described("Uploads fail. Runbook: https://runbooks.example.com/validate. Page the owner.")

    assert n.runbook_url == "https://runbooks.example.com/validate"
    assert n.description == "Uploads fail.  Page the owner."


def test_a_console_link_anywhere_in_the_description_is_the_notifications_console_link():
    dashboard = "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=practika"
    n = _described(f"Uploads fail, see {dashboard}, then retry.")

    assert n.console_url == dashboard


@pytest.mark.parametrize(
    "url",
    [
        "https://console.aws.amazon.com.evil.example/x",
        "https://console.aws.amazon.com@evil.example/x",
        "https://evil.example@console.aws.amazon.com/x",
        "http://eu-west-1.console.aws.amazon.com/x",
    ],
)
def test_a_look_alike_console_link_is_not_taken(url):
    n = _described(f"See {url} now")

    assert n.console_url is not None
    assert n.console_url.startswith(
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:"
    )


@pytest.mark.parametrize(
    ("runbook", "kept"),
    [
        ("javascript:alert(1)", None),
        ("https://user:pw@runbooks.example.com/r", None),
        ("https://runbooks.example.com/a'b", "https://runbooks.example.com/a"),
        ("https://runbooks.example.com/é", "https://runbooks.example.com/%C3%A9"),
    ],
)
def test_a_runbook_link_must_be_http_without_user_info_and_is_percent_encoded(runbook, kept):
    assert _described(f"Runbook: {runbook}").runbook_url == kept


def test_a_link_set_on_the_model_cannot_close_a_markdown_or_slack_link_early():
    n = parse(own("alarm-metric.json")).model_copy(update={"runbook_url": "https://r.example/a b(c)<d>|e[f]"})

    checked = Notification.model_validate(n.model_dump())

    assert checked.runbook_url == "https://r.example/a%20b%28c%29%3Cd%3E%7Ce%5Bf%5D"
