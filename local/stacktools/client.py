"""What the app does over HTTP against a running stack, and the one way the tools wait for it.

A `StackClient` is built from the stack's description (`.local/stack.json`: API URL, AWS endpoint,
resources, chat log). It calls the API as a user (a token the local authorizer accepts), follows
the presigned URLs the API hands out, and gives boto3 clients on the stack's AWS endpoint.
"""

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import requests
import requests.adapters

from devstack.auth import make_token

DONE_VIDEO = ("ready", "rejected")
DONE_CLIP = ("ready", "failed")


class WaitTimedOut(AssertionError):
    """A condition `wait_for` polled did not come true in time (an AssertionError, so tests fail on it)."""


def wait_for(
    probe: Callable[[], Any], *, timeout_s: float = 60, interval_s: float = 0.25, what: str = "condition"
) -> Any:
    """Poll `probe` until it returns something truthy, and return that; WaitTimedOut with its last value otherwise."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval_s)
    raise WaitTimedOut(f"{what} not met within {timeout_s}s (last value: {value!r})")


class StackClient:
    def __init__(self, description: dict[str, Any], *, claims: dict[str, Any] | None = None) -> None:
        self.description = description
        self.api = str(description["api_url"])
        self.resources: dict[str, str] = dict(description["resources"])
        self.claims = claims or {}
        self.http = requests.Session()
        # The load tool calls from many threads.
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=32))

    def aws(self, service: str) -> Any:
        """A boto3 client on the stack's AWS endpoint (moto's fake credentials)."""
        return boto3.client(
            service,
            endpoint_url=self.description["aws_endpoint_url"],
            region_name=self.description["region"],
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's fake credentials
        )

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(user, **self.claims)}"}

    # --- the API ---------------------------------------------------------------------------------

    def health(self) -> requests.Response:
        return self.http.get(f"{self.api}/health", timeout=5)

    def create_video(self, user: str, filename: str, content_type: str, size_bytes: int) -> requests.Response:
        body: dict[str, Any] = {"filename": filename, "content_type": content_type, "size_bytes": size_bytes}
        return self.http.post(f"{self.api}/videos", headers=self.headers(user), json=body, timeout=60)

    def post_upload(self, upload: dict[str, Any], data: bytes, filename: str, content_type: str) -> requests.Response:
        """The browser's form POST to a presigned POST: the policy's fields, then the file last."""
        files = {"file": (filename, data, content_type)}
        return self.http.post(upload["url"], data=upload["fields"], files=files, timeout=120)

    def get_video(self, user: str, video_id: str) -> requests.Response:
        return self.http.get(f"{self.api}/videos/{video_id}", headers=self.headers(user), timeout=60)

    def request_clip(self, user: str, video_id: str, body: dict[str, Any]) -> requests.Response:
        url = f"{self.api}/videos/{video_id}/clips"
        return self.http.post(url, headers=self.headers(user), json=body, timeout=60)

    def get_clip(self, user: str, clip_id: str) -> requests.Response:
        return self.http.get(f"{self.api}/clips/{clip_id}", headers=self.headers(user), timeout=60)

    def settled_video(self, user: str, video_id: str) -> dict[str, Any] | None:
        """The video once validation has decided it, else None (a probe for `wait_for`)."""
        return _settled(self.get_video(user, video_id), DONE_VIDEO)

    def settled_clip(self, user: str, clip_id: str) -> dict[str, Any] | None:
        """The clip once the worker is done with it, else None (a probe for `wait_for`)."""
        return _settled(self.get_clip(user, clip_id), DONE_CLIP)

    # --- the stack's control endpoint and chat sink ------------------------------------------------

    def invoke(self, function: str, event: bytes) -> requests.Response:
        """Run one function of the local stack with an event, as `sam local invoke` would."""
        url = f"{self.description['control_url']}/invoke/{function}"
        return self.http.post(url, data=event, headers={"content-type": "application/json"}, timeout=960)

    def chat_log_length(self) -> int:
        return len(Path(self.description["chat_log"]).read_text().splitlines())

    def chat_records(self, skip: int = 0) -> list[dict[str, Any]]:
        """What the chat sink received, after the first `skip` records."""
        lines = Path(self.description["chat_log"]).read_text().splitlines()[skip:]
        return [json.loads(line) for line in lines if line]


def _settled(answer: requests.Response, done: tuple[str, ...]) -> dict[str, Any] | None:
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body if body.get("status") in done else None
