"""A local chat: records every webhook post, one JSON object a line, and can be told to fail.

`POST /_control {"status": 429|500, "times": N, "retry_after": S}` makes the next N answers fail
that way (429 with a Retry-After header when retry_after is given); with `"delay_s": D` they wait D
seconds before answering (a chat that times out; `status` defaults to 200 then). Control calls are not chat
posts and are not recorded; `GET /_log` returns what was recorded.
"""

import json
import threading
import time
from pathlib import Path
from typing import Any

from devstack.httpserver import BackgroundServer, QuietHandler


class ChatSink(BackgroundServer):
    def __init__(self, host: str, port: int, log_path: Path) -> None:
        self.log_path = log_path
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("")
        self._lock = threading.Lock()
        self._failures: list[tuple[int, float | None, float]] = []
        sink = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if self.path == "/_log":
                    self.answer(200, json.dumps(sink.records()).encode(), {"content-type": "application/json"})
                else:
                    self.answer(404, b"not found")

            def do_POST(self) -> None:
                raw = self.body()
                if self.path == "/_control":
                    sink.control(json.loads(raw or b"{}"))
                    self.answer(200, b'{"ok": true}', {"content-type": "application/json"})
                    return
                status, retry_after, delay_s = sink.next_answer()
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                sink.record(
                    {
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": body,
                        "status": status,
                        **({"delayed_s": delay_s} if delay_s else {}),
                    }
                )
                if delay_s:  # recorded on arrival: a chat that is slow to answer may still have posted it
                    time.sleep(delay_s)
                headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
                self.answer(status, b"ok" if status < 400 else b"failing on purpose", headers)

        super().__init__(host, port, Handler, name="chat-sink")

    def control(self, command: dict[str, Any]) -> None:
        delay_s = float(command.get("delay_s") or 0)
        status = int(command.get("status", 200 if delay_s else 500))
        retry_after = command.get("retry_after")
        with self._lock:
            self._failures = [(status, retry_after, delay_s)] * int(command.get("times", 1))

    def next_answer(self) -> tuple[int, float | None, float]:
        with self._lock:
            return self._failures.pop(0) if self._failures else (200, None, 0.0)

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock, self.log_path.open("a") as log:
            log.write(json.dumps(entry) + "\n")

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]
