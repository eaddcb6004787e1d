"""Fixtures every suite shares: one Lambda context, events from events/, the pinned ffmpeg on PATH."""

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
FFMPEG_BIN = ROOT / ".cache" / "ffmpeg" / "bin"

# Test defaults: nothing reaches AWS, traces are not sent, metrics still print EMF (tests read it).
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "tests")
os.environ.setdefault("ENVIRONMENT", "test")
# The tests run the same pinned binaries the ffmpeg layer ships (`make ffmpeg` puts them here).
if FFMPEG_BIN.is_dir() and str(FFMPEG_BIN) not in os.environ.get("PATH", ""):
    os.environ["PATH"] = f"{FFMPEG_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


@dataclass
class FakeLambdaContext:
    """A Lambda context whose remaining time counts down from `timeout_s`, like the real one."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 1024
    timeout_s: float = 30.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def load_event(name: str) -> dict[str, Any]:
    """An event from events/ (the same files `sam local invoke -e` and `make invoke` use)."""
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def event():
    return load_event
