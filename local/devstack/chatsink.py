"""A local chat: records every webhook post, one JSON object a line, and can be told to fail.

`POST /_control {"status": 429|500, "times": N, "retry_after": S}` makes the next N answers fail
that way (429 with a Retry-After header when retry_after is given). Control calls are not chat
posts and are not recorded; `GET /_log` returns what was recorded.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class ChatSink:
    def __init__(self, host: str, port: int, log_path: Path) -> None:
        self.log_path = log_path
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("")
        self._lock = threading.Lock()
        self._failures: list[tuple[int, float | None]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/_log":
                    self._answer(200, json.dumps(sink.records()).encode(), {"content-type": "application/json"})
                else:
                    self._answer(404, b"not found")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path == "/_control":
                    sink.control(json.loads(raw or b"{}"))
                    self._answer(200, b'{"ok": true}', {"content-type": "application/json"})
                    return
                status, retry_after = sink.next_answer()
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                sink.record({"path": self.path, "headers": dict(self.headers.items()), "body": body,
                             "status": status})
                headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
                self._answer(status, b"ok" if status < 400 else b"failing on purpose", headers)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="chat-sink")

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def control(self, command: dict[str, Any]) -> None:
        status = int(command.get("status", 500))
        retry_after = command.get("retry_after")
        with self._lock:
            self._failures = [(status, retry_after)] * int(command.get("times", 1))

    def next_answer(self) -> tuple[int, float | None]:
        with self._lock:
            return self._failures.pop(0) if self._failures else (200, None)

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock, self.log_path.open("a") as log:
            log.write(json.dumps(entry) + "\n")

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]
