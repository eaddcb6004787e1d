"""The alarm router end to end against moto (DynamoDB, Secrets Manager) and a real local chat server."""

import json
import logging
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from moto import mock_aws

from practika import settings
from practika.alarms import delivery
from practika.alarms import router as alarms_router
from practika.observability import logger
from tests.integration.conftest import create_table_from_template

TOKEN = "XXSECRETTOKEN42"


class Chat:
    """A chat webhook on 127.0.0.1: records every request, answers from a script, then 200."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: deque[tuple[int, dict[str, str]]] = deque()
        self.always: int | None = None
        chat = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers = chat.script.popleft() if chat.script else (chat.always or 200, {})
                chat.requests.append({"path": self.path, "body": json.loads(body), "status": status})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self, path_part: str = "") -> list[dict]:
        return [r for r in self.requests if r["status"] < 300 and path_part in r["path"]]


@pytest.fixture
def chat():
    server = Chat()
    yield server
    server.server.shutdown()


ROUTES = {
    "destinations": {
        "ops-slack": {"type": "slack", "mentions": {"critical": "<!here>"}},
        "ops-gchat": {"type": "google_chat"},
    },
    "routes": [{"match": {"severity": ["critical"]}, "destinations": ["ops-slack", "ops-gchat"]}],
    "default": ["ops-slack"],
}


@pytest.fixture
def router(chat, monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "app-table")
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "idempotency-table")
    monkeypatch.setenv("CHAT_WEBHOOKS_SECRET", "practika/chat-webhooks")
    monkeypatch.setenv("CHAT_ROUTES", json.dumps(ROUTES))
    monkeypatch.setattr(delivery, "BACKOFF_BASE_S", 0.05)
    monkeypatch.setattr(delivery, "MIN_ATTEMPT_S", 0.2)
    with mock_aws():
        settings.reset()
        from alarm_router import app

        ddb = boto3.client("dynamodb")
        create_table_from_template(ddb, "AppTable", "app-table")
        create_table_from_template(ddb, "IdempotencyTable", "idempotency-table")
        urls = {"ops-slack": f"{chat.url}/slack/{TOKEN}", "ops-gchat": f"{chat.url}/gchat?key=k&token={TOKEN}"}
        boto3.client("secretsmanager").create_secret(Name="practika/chat-webhooks", SecretString=json.dumps(urls))
        yield app
        settings.reset()


@pytest.fixture
def logs(caplog):
    """Every log line: Powertools' JSON lines and anything the libraries log, at debug level."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    keep = Keep()
    keep.setFormatter(logger.registered_formatter)
    logger._logger.addHandler(keep)
    caplog.set_level(logging.DEBUG)
    # botocore's wire log (DEBUG) prints every response body, secrets included; nobody runs it in Lambda.
    caplog.set_level(logging.INFO, logger="botocore")
    yield lambda: lines + [r.getMessage() for r in caplog.records]
    logger._logger.removeHandler(keep)


def test_a_critical_alarm_is_posted_once_to_each_routed_chat(router, chat, event, lambda_context):
    result = router.handler(event("sns-alarm.json"), lambda_context)

    assert result["delivered"] == {"5d7e0c2a-1f7b-5c55-9d0e-8b0d2f6a7a11": ["ops-slack", "ops-gchat"]}
    [slack] = chat.accepted("/slack/")
    assert slack["body"]["text"].startswith("<!here> 🔴 ALARM: practika-dev-ValidateFunction-Errors")
    [gchat] = chat.accepted("/gchat")
    assert "messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD" in gchat["path"]
    assert gchat["body"]["thread"]["threadKey"].endswith(":alarm:practika-dev-ValidateFunction-Errors")


def test_a_chat_answering_429_twice_still_gets_exactly_one_post(router, chat, event, lambda_context):
    chat.script.extend([(429, {"Retry-After": "1"}), (429, {"Retry-After": "1"})])
    started = time.monotonic()

    router.handler(event("alarm-metric-math.json"), lambda_context)

    assert [r["status"] for r in chat.requests] == [429, 429, 200]
    assert len(chat.accepted()) == 1
    assert time.monotonic() - started >= 2.0  # Retry-After was honoured


def test_the_same_sns_message_delivered_twice_posts_once(router, chat, event, lambda_context):
    router.handler(event("sns-alarm.json"), lambda_context)
    router.handler(event("sns-alarm.json"), lambda_context)

    assert len(chat.accepted("/slack/")) == 1
    assert len(chat.accepted("/gchat")) == 1


def test_a_chat_always_answering_500_makes_the_invocation_fail_and_counts_the_failure(
    router, chat, event, lambda_context, capsys
):
    chat.always = 500
    lambda_context.timeout_s = 6

    with pytest.raises(alarms_router.AlarmDeliveryFailed, match="ops-slack"):
        router.handler(event("alarm-metric-math.json"), lambda_context)

    assert len(chat.requests) > 2
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    failed = [m for m in emf if "AlarmNotificationsFailed" in m]
    assert failed
    assert failed[0]["destination_type"] == "slack"


def test_a_retried_invocation_posts_only_where_the_first_one_failed(router, chat, event, lambda_context):
    chat.always = None
    chat.script.extend([(200, {}), (403, {})])  # slack accepted, then google chat refused

    with pytest.raises(alarms_router.AlarmDeliveryFailed, match="ops-gchat"):
        router.handler(event("sns-alarm.json"), lambda_context)
    router.handler(event("sns-alarm.json"), lambda_context)

    assert len(chat.accepted("/slack/")) == 1
    assert len(chat.accepted("/gchat")) == 1
    assert [r["status"] for r in chat.requests if "/gchat" in r["path"]] == [403, 200]


def test_an_ok_after_its_alarm_says_how_long_the_alarm_lasted(router, chat, event, lambda_context):
    router.handler(event("alarm-metric.json"), lambda_context)
    router.handler(event("alarm-metric-ok.json"), lambda_context)

    ok = chat.accepted("/slack/")[-1]["body"]
    assert "lasted 27 min" in ok["text"]


def test_unrecognised_input_is_still_delivered_and_counted(router, chat, event, lambda_context, capsys):
    router.handler(event("alarm-other-json.json"), lambda_context)

    assert len(chat.accepted("/slack/")) == 1
    assert '"UnknownNotification"' in capsys.readouterr().out


def test_no_log_line_contains_a_webhook_url_and_every_line_names_the_message(router, chat, event, lambda_context, logs):
    chat.always = 500
    lambda_context.timeout_s = 5
    with pytest.raises(alarms_router.AlarmDeliveryFailed) as failure:
        router.handler(event("sns-alarm.json"), lambda_context)
    chat.always = None
    router.handler(event("sns-alarm.json"), lambda_context)

    lines = logs()
    assert lines
    assert not [line for line in lines if TOKEN in line or chat.url in line]
    assert TOKEN not in str(failure.value)
    ours = [json.loads(line) for line in lines if line.startswith("{") and '"service"' in line]
    assert ours
    assert all(line.get("message_id") == "5d7e0c2a-1f7b-5c55-9d0e-8b0d2f6a7a11" for line in ours)
