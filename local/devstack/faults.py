"""Fault injection for the local stack: AWS calls that fail or stall, ffmpeg/ffprobe that crash or hang.

The rules live in one JSON file (`faults.json` in the stack's state directory, named to every
worker by DEVSTACK_FAULTS_FILE) so a running stack can be changed: `POST <control_url>/faults`
replaces them, `GET <control_url>/faults` shows them with how often each fired. The stack starts
with the rules of DEVSTACK_FAULTS (JSON list). See docs/FAULTS.md.

A rule (every key optional except what makes it a rule):

    {"service": "s3", "operation": "GetObject", "function": "ValidateFunction",
     "error": "InternalError", "status": 500, "delay_s": 0, "times": 2}
    {"tool": "ffprobe", "action": "crash" | "hang" | "slow", "delay_s": 8, "function": "ClipWorkerFunction", "times": 1}

AWS rules act in `before-send`, inside botocore's retry loop, so the SDK's own retries see them
exactly as they would see a failing AWS (each attempt uses one of `times`). `error: "connection"`
raises a connection error instead of answering. Tool rules act through the shims that the stack
puts before the real binaries on PATH (DEVSTACK_FAULT_SHIMS=1); without a matching rule a shim
runs the real binary.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

FILE_ENV = "DEVSTACK_FAULTS_FILE"
FUNCTION_ENV = "DEVSTACK_LOGICAL_ID"
REAL_BIN_ENV = "DEVSTACK_REAL_FFMPEG_DIR"

# Default HTTP status of well-known error codes (anything else: 500).
_STATUS = {
    "SlowDown": 503,
    "ServiceUnavailable": 503,
    "ThrottlingException": 400,
    "ProvisionedThroughputExceededException": 400,
    "RequestLimitExceeded": 400,
    "Throttling": 400,
    "AccessDenied": 403,
    "NoSuchKey": 404,
}
# Wire protocol of the services the stack's functions call.
_XML_SERVICES = {"s3"}
_QUERY_SERVICES = {"sns", "cloudwatch"}


def _norm(service: str) -> str:
    return service.lower().replace("-", "").replace("_", "")


class FaultBook:
    """The rules file: read cheaply (cached by mtime), consumed under a file lock across processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._rules: list[dict[str, Any]] = []

    def write(self, rules: list[dict[str, Any]]) -> None:
        with self._locked():
            self._save([{**rule, "fired": 0} for rule in rules])

    def rules(self) -> list[dict[str, Any]]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._rules = self._load()
            self._stamp = stamp
        return self._rules

    def take(self, matches: Any) -> dict[str, Any] | None:
        """The first live rule `matches` accepts, counted as fired once; None when none applies."""
        if not any(matches(rule) for rule in self.rules()):
            return None
        with self._locked():
            rules = self._load()
            for rule in rules:
                times = rule.get("times")
                if matches(rule) and (times is None or rule.get("fired", 0) < int(times)):
                    rule["fired"] = rule.get("fired", 0) + 1
                    self._save(rules)
                    return rule
        return None

    def _load(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text() or "[]")
        except (FileNotFoundError, ValueError):
            return []
        return list(data)

    def _save(self, rules: list[dict[str, Any]]) -> None:
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(rules, indent=1))
        tmp.replace(self.path)

    def _locked(self) -> Any:
        book = self

        class _Lock:
            def __enter__(self) -> None:
                self.handle = book.path.with_suffix(".lock").open("a")
                fcntl.flock(self.handle, fcntl.LOCK_EX)

            def __exit__(self, *_: Any) -> None:
                fcntl.flock(self.handle, fcntl.LOCK_UN)
                self.handle.close()

        return _Lock()


def _applies_here(rule: dict[str, Any]) -> bool:
    function = rule.get("function")
    return not function or function == os.environ.get(FUNCTION_ENV)


def _aws_matcher(service: str, operation: str) -> Any:
    def matches(rule: dict[str, Any]) -> bool:
        if "service" not in rule or _norm(rule["service"]) != _norm(service):
            return False
        return rule.get("operation") in (None, operation) and _applies_here(rule)

    return matches


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def _error_response(request: Any, service: str, code: str, status: int) -> Any:
    from botocore.awsrequest import AWSResponse

    message = "injected by devstack.faults"
    if _norm(service) in _XML_SERVICES:
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        headers = {"content-type": "application/xml"}
    elif _norm(service) in _QUERY_SERVICES:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
            "</Error><RequestId>fault</RequestId></ErrorResponse>"
        )
        headers = {"content-type": "text/xml"}
    else:
        body = json.dumps({"__type": code, "message": message})
        headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{code};Sender"}
    return AWSResponse(request.url, status, headers, _Body(body.encode()))


def install(book: FaultBook) -> None:
    """Make every botocore session created from now on in this process consult `book`."""
    from botocore import handlers
    from botocore.exceptions import EndpointConnectionError

    def before_send(request: Any, event_name: str = "", **_: Any) -> Any:
        parts = [*event_name.split("."), "", "", ""]
        service, operation = parts[1], parts[2]
        rule = book.take(_aws_matcher(service, operation))
        if rule is None:
            return None
        if rule.get("delay_s"):
            time.sleep(float(rule["delay_s"]))
        error = rule.get("error")
        if not error:
            return None
        if error == "connection":
            raise EndpointConnectionError(endpoint_url=request.url)
        return _error_response(request, service, str(error), int(rule.get("status") or _STATUS.get(error, 500)))

    handlers.BUILTIN_HANDLERS.append(("before-send", before_send))


def install_from_env() -> None:
    """What a worker process calls at start: faults on when the stack named a rules file."""
    path = os.environ.get(FILE_ENV)
    if path:
        install(FaultBook(Path(path)))


def tool_main(tool: str) -> None:
    """Entry point of the ffmpeg/ffprobe shims."""
    real = os.path.join(os.environ.get(REAL_BIN_ENV, ""), tool)
    path = os.environ.get(FILE_ENV)
    rule = None
    if path:
        rule = FaultBook(Path(path)).take(lambda r: r.get("tool") == tool and _applies_here(r))
    if rule is not None:
        action = rule.get("action", "crash")
        if action == "crash":
            sys.stderr.write(f"{tool}: injected crash\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGSEGV)
        elif action == "hang":
            while True:
                time.sleep(3600)
        elif action == "slow":
            time.sleep(float(rule.get("delay_s", 5)))
    os.execv(real, [real, *sys.argv[1:]])  # noqa: S606 - the real tool, with the caller's own arguments


def write_shims(directory: Path, real_bin: Path) -> Path:
    """ffmpeg and ffprobe scripts that apply tool rules, then run the real binaries in `real_bin`."""
    directory.mkdir(parents=True, exist_ok=True)
    for tool in ("ffmpeg", "ffprobe"):
        shim = directory / tool
        shim.write_text(
            f"#!{sys.executable}\n"
            "import os, sys\n"
            f"os.environ.setdefault({REAL_BIN_ENV!r}, {str(real_bin)!r})\n"
            "from devstack.faults import tool_main\n"
            f"tool_main({tool!r})\n"
        )
        shim.chmod(0o755)
    return directory
