"""The local stack, started once for the e2e suite, and helpers to drive it over HTTP."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.auth import make_token
from devstack.launcher import RunningStack, start_stack
from stacktools.client import StackClient
from tests.mediafactory import STACK_PARAMS

# Failed messages come back after 30 s instead of the template's 18 minutes.
E2E_ENV = {
    "LOCAL_VISIBILITY_TIMEOUT_S": "30",
    # The router retries within its remaining time: 12 s per attempt lets the DLQ test finish in ~45 s.
    "LOCAL_FUNCTION_TIMEOUTS": "AlarmRouterFunction=12",
}


# Webhook retries within seconds: a sink that never recovers parks its event in WebhookDLQ after 15 s.
WEBHOOK_PARAMS = {"WebhookRetryWindowSeconds": "15", "WebhookBackoffBaseSeconds": "1", "WebhookBackoffCapSeconds": "2"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("stack"), params={**STACK_PARAMS, **WEBHOOK_PARAMS}, env=E2E_ENV)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def api(stack) -> str:
    return stack.api_url


@pytest.fixture(scope="session")
def aws_client(stack) -> Callable[[str], Any]:
    return StackClient(stack.description).aws


@pytest.fixture(scope="session")
def auth_headers() -> Callable[..., dict[str, str]]:
    def headers(sub: str = "user-a", **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(sub, **claims)}"}

    return headers


@pytest.fixture
def chat_records(stack) -> Callable[[], list[dict[str, Any]]]:
    def read() -> list[dict[str, Any]]:
        path = Path(stack.description["chat_log"])
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    return read
