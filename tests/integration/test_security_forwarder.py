"""The security forwarder against moto's CloudWatch Logs, fed the subscription event in events/."""

import json

import boto3
import pytest
from moto import mock_aws

from practika import settings

GROUP = "/practika/test/security"


@pytest.fixture
def security_group(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SECURITY_LOG_GROUP", GROUP)
    settings.reset()
    with mock_aws():
        boto3.client("logs").create_log_group(logGroupName=GROUP)
        yield boto3.client("logs")
    settings.reset()


def test_every_security_event_of_a_delivery_lands_in_the_security_log_group(security_group, event, lambda_context):
    from security_forwarder.app import handler

    result = handler(event("cloudwatch-logs-security-events.json"), lambda_context)

    streams = security_group.describe_log_streams(logGroupName=GROUP)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["2026/11/26/practika-dev-validate"]
    events = security_group.get_log_events(logGroupName=GROUP, logStreamName=streams[0]["logStreamName"])["events"]
    kinds = [json.loads(e["message"])["security_event"] for e in events]
    assert result == {"forwarded": 2}
    assert kinds == ["disguised_media", "quota_exceeded"]


def test_a_second_delivery_appends_to_the_same_days_stream(security_group, event, lambda_context):
    from security_forwarder.app import handler

    handler(event("cloudwatch-logs-security-events.json"), lambda_context)
    handler(event("cloudwatch-logs-security-events.json"), lambda_context)

    streams = security_group.describe_log_streams(logGroupName=GROUP)["logStreams"]
    events = security_group.get_log_events(logGroupName=GROUP, logStreamName=streams[0]["logStreamName"])["events"]
    assert len(streams) == 1
    assert len(events) == 4
