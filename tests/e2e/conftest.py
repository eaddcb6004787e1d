"""The local stack, started once for the e2e suite, and helpers to drive it over HTTP."""

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from devstack.auth import make_token
from devstack.launcher import RunningStack, start_stack
from tests.mediafactory import STACK_PARAMS

# Failed messages come back after 30 s instead of the template's 18 minutes.
E2E_ENV = {
    "LOCAL_VISIBILITY_TIMEOUT_S": "30",
    # The router retries within its remaining time: 12 s per attempt lets the DLQ test finish in ~45 s.
    "LOCAL_FUNCTION_TIMEOUTS": "AlarmRouterFunction=12",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("stack"), params=STACK_PARAMS, env=E2E_ENV)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def api(stack) -> str:
    return stack.api_url


@pytest.fixture(scope="session")
def aws_client(stack) -> Callable[[str], Any]:
    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=stack.description["aws_endpoint_url"],
            region_name=stack.description["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    return make


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


def wait_for(probe: Callable[[], Any], timeout_s: float = 60, interval_s: float = 0.25) -> Any:
    """Poll until `probe` returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s (last value: {value!r})")


def get_json(url: str, **kwargs: Any) -> tuple[int, Any]:
    answer = requests.get(url, timeout=30, **kwargs)
    return answer.status_code, answer.json()
