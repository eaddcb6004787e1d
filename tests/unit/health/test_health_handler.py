"""GET /health through the handler, with the checks' data access faked (no network)."""

import json

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError

from practika import health as health_module
from practika import settings
from practika.health import CHECK_TIMEOUT_S, check_health


class FakeClients:
    def __init__(self, failures: dict[str, Exception]) -> None:
        self.failures = failures

    def client(self, service: str, *, timeout_s: float | None = None):
        failure = self.failures.get(service)

        class Client:
            def describe_table(self, TableName):
                if failure:
                    raise failure
                return {"Table": {"TableName": TableName}}

            def head_bucket(self, Bucket):
                if failure:
                    raise failure
                return {}

        return Client()


@pytest.fixture
def storage_env(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "table")
    monkeypatch.setenv("UPLOADS_BUCKET", "uploads")
    monkeypatch.setenv("CLIPS_BUCKET", "clips")
    settings.reset()


def fake_aws(monkeypatch, **failures: Exception) -> None:
    monkeypatch.setattr(health_module.aws, "client", FakeClients(failures).client)


def test_health_is_healthy_when_table_and_bucket_answer(monkeypatch, storage_env, lambda_context, event):
    fake_aws(monkeypatch)
    from health.app import handler

    response = handler(event("api-health.json"), lambda_context)

    body = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert set(body) >= {"status", "timestamp", "version", "database", "storage"}
    assert body["status"] == "healthy"


def test_health_is_503_naming_the_database_when_the_table_is_missing(monkeypatch, storage_env, lambda_context, event):
    missing = ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "DescribeTable")
    fake_aws(monkeypatch, dynamodb=missing)
    from health.app import handler

    response = handler(event("api-health.json"), lambda_context)

    body = json.loads(response["body"])
    assert response["statusCode"] == 503
    assert body["status"] == "unhealthy"
    database = body["database"]
    assert (database["status"], database["error"]) == ("error", "ResourceNotFoundException")
    assert isinstance(database["latency_ms"], float)
    assert 0 <= database["latency_ms"] < CHECK_TIMEOUT_S * 1000
    assert body["storage"]["status"] == "ok"


def test_health_names_storage_when_the_bucket_times_out(monkeypatch, storage_env):
    fake_aws(monkeypatch, s3=ConnectTimeoutError(endpoint_url="http://s3"))

    report = check_health()

    assert report.status == "unhealthy"
    assert report.storage.error == "ConnectTimeoutError"
    assert report.database.status == "ok"


def test_health_answers_within_a_second_when_a_check_hangs(monkeypatch, storage_env):
    import threading
    import time

    release = threading.Event()

    class HangingClients(FakeClients):
        def client(self, service, *, timeout_s=None):
            real = super().client(service, timeout_s=timeout_s)
            if service == "s3":
                real.head_bucket = lambda Bucket: release.wait(5)
            return real

    monkeypatch.setattr(health_module.aws, "client", HangingClients({}).client)
    started = time.monotonic()

    report = check_health()

    elapsed = time.monotonic() - started
    release.set()
    assert elapsed < 1.0
    assert report.storage.error == "timeout"
