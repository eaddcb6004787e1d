"""The bench's S3-like link: the counting proxy delays every answer and paces each connection."""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from bench.proxy import CountingProxy, Link

BODY = b"x" * 1_000_000


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def timed_get(proxy: CountingProxy) -> float:
    started = time.perf_counter()
    answer = requests.get(f"{proxy.url}/object", timeout=30)
    assert answer.content == BODY
    return time.perf_counter() - started


@contextmanager
def proxies(upstream: str, *links: Link | None) -> Iterator[list[CountingProxy]]:
    """One running proxy in front of `upstream` per link (None: loopback), stopped afterwards."""
    running = [CountingProxy(upstream, link).start() for link in links]
    try:
        yield running
    finally:
        for proxy in running:
            proxy.stop()


def test_a_link_adds_its_first_byte_latency_and_caps_a_connections_throughput(upstream):
    # Given the proxy as loopback, and as a link of 200 ms to first byte and 4 MB/s per connection
    with proxies(upstream, None, Link(first_byte_s=0.2, bytes_per_s=4e6)) as (loopback, linked):
        # When 1 MB is read through each
        fast, slow = timed_get(loopback), timed_get(linked)

    # Then the link takes the first byte's 0.2 s plus 1 MB at 4 MB/s (0.25 s), loopback far less,
    # and both count the bytes they sent
    assert 0.45 <= slow < 2.0
    assert fast < 0.3
    assert linked.counter.snapshot() == loopback.counter.snapshot() == {"bytes": len(BODY), "requests": 1}


def test_connections_at_once_share_the_functions_bandwidth(upstream):
    # Given links of 4 MB/s per connection, one without a total and one of 4 MB/s for all connections
    alone, total = Link(first_byte_s=0.0, bytes_per_s=4e6), Link(0.0, bytes_per_s=4e6, function_bytes_per_s=4e6)
    with proxies(upstream, alone, total) as (each_alone, shared):
        # When 1 MB is read through each on two connections at once
        apart, together = two_at_once(each_alone), two_at_once(shared)

    # Then two connections each get their own 4 MB/s on the first (0.25 s for both), and share 4 MB/s
    # on the second (2 MB in 0.5 s), as on a function's network interface
    assert 0.5 <= together < 2.0
    assert apart < together
    assert shared.counter.snapshot() == {"bytes": 2 * len(BODY), "requests": 2}


def two_at_once(proxy: CountingProxy) -> float:
    with ThreadPoolExecutor(max_workers=2) as pool:
        started = time.perf_counter()
        list(pool.map(lambda _: timed_get(proxy), range(2)))
        return time.perf_counter() - started
