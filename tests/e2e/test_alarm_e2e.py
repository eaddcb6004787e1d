"""Alarm routing through the local stack: SNS -> router -> chat sink over real HTTP."""

import json
from pathlib import Path

import requests

from stacktools.client import wait_for

DESTINATIONS = {"/slack/oncall", "/teams/oncall", "/google-chat/oncall", "/discord/oncall", "/json/audit"}


def alarm_message(event, name: str, alarm_name: str | None = None) -> str:
    message = event(name)["Records"][0]["Sns"]["Message"]
    if alarm_name is None:
        return message
    body = json.loads(message)
    body["AlarmName"] = alarm_name
    body["AlarmArn"] = body["AlarmArn"].rsplit(":", 1)[0] + ":" + alarm_name
    return json.dumps(body)


def posts_for(chat_records, alarm_name: str) -> list[dict]:
    return [r for r in chat_records() if alarm_name in json.dumps(r["body"])]


def publish(aws_client, stack, message: str) -> None:
    aws_client("sns").publish(TopicArn=stack.resources["AlarmTopic"], Message=message)


def test_an_alarm_and_its_ok_reach_every_destination_once_each(stack, aws_client, chat_records, event):
    name = "e2e-alarm-and-ok"

    publish(aws_client, stack, alarm_message(event, "alarm-metric.json", name))
    wait_for(lambda: len(posts_for(chat_records, name)) >= len(DESTINATIONS))
    publish(aws_client, stack, alarm_message(event, "alarm-metric-ok.json", name))
    posts = wait_for(lambda: (p := posts_for(chat_records, name)) and len(p) >= 2 * len(DESTINATIONS) and p)

    by_path: dict[str, int] = {}
    for post in posts:
        path = post["path"].split("?")[0]
        by_path[path] = by_path.get(path, 0) + 1
    assert by_path == {path: 2 for path in DESTINATIONS}
    assert all(post["status"] == 200 for post in posts)


def test_a_chat_answering_429_twice_still_gets_exactly_one_post(stack, aws_client, chat_records, event):
    name = "e2e-rate-limited"
    requests.post(
        f"{stack.description['chat_sink_url']}/_control", json={"status": 429, "times": 2, "retry_after": 1}, timeout=5
    )

    publish(aws_client, stack, alarm_message(event, "alarm-metric.json", name))

    posts = wait_for(
        lambda: (p := posts_for(chat_records, name)) and sum(r["status"] == 200 for r in p) >= len(DESTINATIONS) and p
    )
    delivered = [p["path"].split("?")[0] for p in posts if p["status"] == 200]
    assert sorted(delivered) == sorted(DESTINATIONS)
    assert sum(p["status"] == 429 for p in posts) == 2


def test_a_chat_that_always_fails_leaves_the_message_in_the_router_dlq(stack, aws_client, chat_records, event):
    name = "e2e-always-500"
    sqs = aws_client("sqs")
    dlq = stack.resources["AlarmRouterDLQ"]
    # Enough failures for every destination's retries on all three async attempts.
    requests.post(f"{stack.description['chat_sink_url']}/_control", json={"status": 500, "times": 10_000}, timeout=5)
    try:
        publish(aws_client, stack, alarm_message(event, "alarm-metric.json", name))

        def parked():
            messages = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
            return [m for m in messages if name in m["Body"]]

        parked_messages = wait_for(parked, timeout_s=90)
    finally:
        requests.post(f"{stack.description['chat_sink_url']}/_control", json={"status": 500, "times": 0}, timeout=5)

    record = json.loads(parked_messages[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert name in record["requestPayload"]["Records"][0]["Sns"]["Message"]
    log = Path(stack.description["logs_dir"]) / "AlarmRouterFunction.log"
    assert '"AlarmNotificationsFailed"' in log.read_text()


def test_no_router_log_line_contains_a_webhook_url(stack, aws_client, chat_records, event):
    publish(aws_client, stack, alarm_message(event, "alarm-metric.json", "e2e-log-check"))
    wait_for(lambda: len(posts_for(chat_records, "e2e-log-check")) >= len(DESTINATIONS))

    log = (Path(stack.description["logs_dir"]) / "AlarmRouterFunction.log").read_text()

    assert stack.description["chat_sink_url"] not in log
    assert "/slack/oncall" not in log
