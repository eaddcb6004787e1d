"""A counting HTTP proxy in front of the S3 endpoint: bytes are counted where S3 would send them.

Presigned URLs are signed against the proxy's address and forwarded unchanged (same path, query,
Host header) to moto. Response bodies are relayed in small chunks and only what was written to the
client's socket is counted, so a reader that hangs up early is charged for what it was sent
(open-ended ranges included), not for the whole object.

A `Link` makes the proxy behave like S3 seen from Lambda instead of loopback: every request waits
`first_byte_s` before its answer starts, each connection's body is paced to `bytes_per_s`, and all
connections together share `function_bytes_per_s` (a Lambda function's network interface).
Loopback (no link) is about 12 ms per request and 230 MB/s here.
"""

import http.client
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Link:
    """Time to first byte of every request, throughput of one connection, and of all connections
    together (bench/README cites all three); `function_bytes_per_s=None` leaves the total unbounded."""

    first_byte_s: float
    bytes_per_s: float
    function_bytes_per_s: float | None = None

    def describe(self) -> str:
        shared = f", {self.function_bytes_per_s / 1e6:.0f} MB/s in all" if self.function_bytes_per_s else ""
        return (
            f"{self.first_byte_s * 1000:.0f} ms to first byte, {self.bytes_per_s / 1e6:.0f} MB/s per connection{shared}"
        )


class SharedPace:
    """One pipe for every connection: each chunk is booked after the chunks booked before it."""

    def __init__(self, bytes_per_s: float) -> None:
        self._bytes_per_s = bytes_per_s
        self._lock = threading.Lock()
        self._free_at = 0.0

    def book(self, count: int) -> float:
        """When the pipe will have delivered `count` more bytes (perf_counter time)."""
        with self._lock:
            self._free_at = max(time.perf_counter(), self._free_at) + count / self._bytes_per_s
            return self._free_at


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


class Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes_sent = 0
        self.requests = 0
        self.log: list[list[Any]] = []  # [range header, bytes sent] per GET

    def reset(self) -> None:
        with self._lock:
            self.bytes_sent, self.requests, self.log = 0, 0, []

    def add_request(self, range_header: str | None) -> list[Any]:
        entry: list[Any] = [range_header or "-", 0]
        with self._lock:
            self.requests += 1
            self.log.append(entry)
        return entry

    def add_bytes(self, entry: list[Any], count: int) -> None:
        with self._lock:
            self.bytes_sent += count
            entry[1] += count

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"bytes": self.bytes_sent, "requests": self.requests}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up on a keep-alive connection (ffmpeg does, after each seek) is normal."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class CountingProxy:
    """Forwards to `upstream` (http://host:port); counts GET response bytes in `counter`."""

    def __init__(self, upstream: str, link: Link | None = None) -> None:
        target = urlsplit(upstream)
        self.counter = Counter()
        self.link = link
        counter, host, port = self.counter, target.hostname or "127.0.0.1", target.port or 80
        link = self.link
        shared = SharedPace(link.function_bytes_per_s) if link and link.function_bytes_per_s else None

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Every answer leaves at once, as from S3: with Nagle the last small segment of a
            # body waited for the client's delayed ACK, about 40 ms on some requests.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream_conn = http.client.HTTPConnection(host, port, timeout=120)
                try:
                    upstream_conn.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream_conn.getresponse()
                    if link is not None:
                        time.sleep(link.first_byte_s)
                    entry = counter.add_request(self.headers.get("Range")) if self.command == "GET" else None
                    self.send_response(answer.status, answer.reason)
                    for name, value in answer.getheaders():
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                    self.end_headers()
                    if self.command == "HEAD":
                        return
                    started, sent = time.perf_counter(), 0
                    while chunk := answer.read(CHUNK):
                        sent += len(chunk)
                        if link is not None:
                            # A chunk leaves only when the link would have delivered its last byte, on
                            # this connection and on the function's shared pipe, so none arrives early.
                            due = started + sent / link.bytes_per_s
                            if shared is not None:
                                due = max(due, shared.book(len(chunk)))
                            ahead = due - time.perf_counter()
                            if ahead > 0:
                                time.sleep(ahead)
                        try:
                            self.wfile.write(chunk)
                        except (BrokenPipeError, ConnectionResetError):
                            self.close_connection = True
                            return
                        if entry is not None:
                            counter.add_bytes(entry, len(chunk))
                finally:
                    upstream_conn.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "CountingProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
