"""Lambda-like execution of the real handlers: warm worker processes, timeouts, cold starts."""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.resources import FunctionSpec
from devstack.template import ROOT

FFMPEG_BIN = ROOT / ".cache" / "ffmpeg" / "bin"


@dataclass
class InvokeResult:
    ok: bool
    payload: Any
    duration_ms: float

    @property
    def error(self) -> dict[str, Any] | None:
        return None if self.ok else self.payload


class _Environment:
    """One worker process: a warm execution environment of one function."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], log_path: Path) -> None:
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            cwd=str(ROOT),
        )

    def invoke(self, event: Any, timeout_s: float) -> InvokeResult:
        assert self.process.stdin and self.process.stdout
        started = time.time()
        request = {"event": event, "request_id": str(uuid.uuid4()), "deadline": started + timeout_s}
        self.process.stdin.write((json.dumps(request) + "\n").encode())
        self.process.stdin.flush()
        answer: dict[str, Any] = {}
        reader = threading.Thread(target=lambda: answer.update(self._read()), daemon=True)
        reader.start()
        reader.join(timeout_s + 0.5)
        duration_ms = (time.time() - started) * 1000
        if reader.is_alive() or not answer:
            self.close()
            if reader.is_alive():
                message = f"Task timed out after {timeout_s:.2f} seconds"
                error = {"errorType": "Sandbox.Timedout", "errorMessage": message}
            else:
                message = "the runtime exited (see the function's log)"
                error = {"errorType": "Runtime.ExitError", "errorMessage": message}
            return InvokeResult(False, error, duration_ms)
        if answer["ok"]:
            return InvokeResult(True, answer["result"], duration_ms)
        return InvokeResult(False, answer["error"], duration_ms)

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout
        line = self.process.stdout.readline()
        return json.loads(line) if line else {}

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


class FunctionRuntime:
    """Runs one function with up to `concurrency` warm environments, like Lambda's scaling."""

    def __init__(self, spec: FunctionSpec, base_env: dict[str, str], log_dir: Path, concurrency: int) -> None:
        self.spec = spec
        self.log_path = log_dir / f"{spec.logical_id}.log"
        self.env = self._environment(base_env)
        self._idle: list[_Environment] = []
        self._all: list[_Environment] = []
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()

    def _environment(self, base_env: dict[str, str]) -> dict[str, str]:
        env = dict(base_env)
        env.update(self.spec.environment)
        env.update(self.spec.credentials)  # the function's role, never the stack's root key
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": self.spec.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.spec.memory_mb),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.spec.timeout_s),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "DEVSTACK_FUNCTION_ARN": self.spec.arn,
                "DEVSTACK_CODE_DIR": str(self.spec.code_dir),
                "DEVSTACK_HANDLER": self.spec.handler,
                "DEVSTACK_LOGICAL_ID": self.spec.logical_id,
                # Lambda's layout: function code, then the shared layer (/opt/python), then /opt/bin.
                "PYTHONPATH": os.pathsep.join(
                    [str(self.spec.code_dir), str(ROOT / "layers" / "shared"), str(ROOT / "local")]
                ),
                # Fault injection's ffmpeg/ffprobe shims, when on, come before the real binaries.
                "PATH": os.pathsep.join(
                    [p for p in (base_env.get("DEVSTACK_SHIM_DIR"), str(FFMPEG_BIN), base_env.get("PATH", "")) if p]
                ),
            }
        )
        return env

    def invoke(self, event: Any) -> InvokeResult:
        with self._slots:
            with self._lock:
                environment = next((e for e in self._idle if e.alive), None)
                if environment:
                    self._idle.remove(environment)
            if environment is None:
                environment = _Environment(self.spec, self.env, self.log_path)
                with self._lock:
                    self._all.append(environment)
            result = environment.invoke(event, float(self.spec.timeout_s))
            with self._lock:
                if environment.alive:
                    self._idle.append(environment)
                else:
                    self._all.remove(environment)
            return result

    def close(self) -> None:
        with self._lock:
            for environment in self._all:
                environment.close()
            self._all.clear()
            self._idle.clear()
