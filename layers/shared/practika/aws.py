"""boto3 clients, created once per container and reused across invocations.

Endpoints come from the standard AWS_ENDPOINT_URL variables, so the same code talks to AWS
in Lambda and to the local stack's moto server on a laptop.
"""

import os
import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config


def _config(timeout_s: float | None) -> Config:
    options: dict[str, Any] = {"signature_version": "v4"}
    if os.environ.get("AWS_ENDPOINT_URL"):
        # A local endpoint is an IP address: virtual-hosted bucket names cannot resolve there.
        options["s3"] = {"addressing_style": "path"}
    if timeout_s is not None:
        options.update(connect_timeout=timeout_s, read_timeout=timeout_s, retries={"max_attempts": 1})
    return Config(**options)


# One session per container: each new session loads botocore's endpoint and service data again,
# about 100 ms of cold start per client. Sessions are not thread-safe while creating clients, and
# the health check creates its two clients from two threads, hence the lock.
_creating = threading.Lock()


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def client(service: str, *, timeout_s: float | None = None) -> Any:
    """A cached client; `timeout_s` gives a short-timeout, no-retry client for checks that must answer fast."""
    with _creating:
        return _session().client(service, config=_config(timeout_s))


@cache
def table(name: str) -> Any:
    with _creating:
        return _session().resource("dynamodb", config=_config(None)).Table(name)
