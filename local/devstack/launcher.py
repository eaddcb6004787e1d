"""Start the local stack as a child process and wait until it is ready (used by demo, tests, bench)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.template import ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes] | None
    description: dict[str, Any]

    @property
    def api_url(self) -> str:
        return str(self.description["api_url"])

    @property
    def resources(self) -> dict[str, str]:
        return dict(self.description["resources"])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_stack(
    state_dir: Path,
    *,
    port: int | None = None,
    params: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 60,
) -> RunningStack:
    state_dir.mkdir(parents=True, exist_ok=True)
    stack_file = state_dir / "stack.json"
    stack_file.unlink(missing_ok=True)
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT / "local")])
    child_env.update(env or {})
    args = [
        sys.executable,
        "-m",
        "devstack",
        "--state-dir",
        str(state_dir),
        "--port",
        str(port or free_port()),
        "--web-port",
        "0",
    ]
    for key, value in (params or {}).items():
        args += ["--param", f"{key}={value}"]
    output = (state_dir / "devstack.out").open("wb")
    process = subprocess.Popen(args, cwd=ROOT, env=child_env, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stack_file.exists():
            return RunningStack(process, json.loads(stack_file.read_text()))
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    tail = (state_dir / "devstack.out").read_text(errors="replace")[-3000:]
    raise RuntimeError(f"local stack did not start:\n{tail}")


def running_stack(state_dir: Path) -> RunningStack | None:
    """The stack `make local` is running, if any."""
    stack_file = state_dir / "stack.json"
    if not stack_file.exists():
        return None
    return RunningStack(None, json.loads(stack_file.read_text()))


def running_or_started(state_dir: Path) -> RunningStack:
    """The stack `make local` runs if it answers, else a new one (`stop()` ends only one we started)."""
    existing = running_stack(state_dir)
    if existing is not None:
        try:
            with urllib.request.urlopen(f"{existing.api_url}/health", timeout=2):  # noqa: S310 - loopback
                return existing
        except urllib.error.HTTPError:
            return existing  # it answers, if unhealthily: the caller's checks will say so
        except OSError:
            pass
    return start_stack(state_dir)
