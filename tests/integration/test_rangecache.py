"""The clip worker's local read-through cache, over real HTTP on both sides: ffmpeg's side asks ranges,
an S3-like upstream answers (and counts) them."""

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from practika.media import rangecache
from practika.media.rangecache import PIECE_BYTES, Plan

BLOB = os.urandom(3 * 1024 * 1024 + 12345)  # not a whole number of pieces


class Upstream:
    """Serves BLOB by range like S3; records every range asked; fails the next `failures` requests."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []
        self.failures = 0
        self.delay_s = 0.0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def do_GET(self) -> None:
                first, _, last = self.headers["Range"].removeprefix("bytes=").partition("-")
                start, end = int(first), min(int(last) + 1, len(BLOB))
                upstream.ranges.append((start, end))
                time.sleep(upstream.delay_s)
                if upstream.failures:
                    upstream.failures -= 1
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(BLOB)}")
                self.send_header("Content-Length", str(end - start))
                self.end_headers()
                self.wfile.write(BLOB[start:end])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/src?X-Amz-Signature=secret"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fetched(self) -> int:
        return sum(end - start for start, end in self.ranges)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    running = Upstream()
    yield running
    running.server.shutdown()


PLAN = Plan(head_bytes=128 * 1024, tail_bytes=256 * 1024, clip_at=1_000_000, clip_bytes=600_000, clip_slack=900_000)


def read(url: str, start: int, end: int) -> requests.Response:
    return requests.get(url, headers={"Range": f"bytes={start}-{end - 1}"}, timeout=10)


def settle(upstream: Upstream) -> None:
    """Wait until the upstream has been quiet for a moment (the prefetches are done)."""
    seen = -1
    while seen != len(upstream.ranges):
        seen = len(upstream.ranges)
        time.sleep(0.2)


def covered(ranges: list[tuple[int, int]], start: int, end: int) -> bool:
    return all(any(a <= offset < b for a, b in ranges) for offset in range(start, end, 4096))


def test_any_range_ffmpeg_asks_for_is_served_byte_for_byte(upstream, tmp_path):
    with rangecache.cached(upstream.url, len(BLOB), tmp_path, PLAN) as (url, _):
        asked = [(0, 1), (48, 70_000), (len(BLOB) - 100, len(BLOB)), (999_999, 2_100_000), (5, 3 * PIECE_BYTES + 7)]
        answers = [read(url, start, end) for start, end in asked]
        suffix = requests.get(url, headers={"Range": "bytes=-5000"}, timeout=10)
        open_ended = requests.get(url, headers={"Range": f"bytes={len(BLOB) - 70_000}-"}, timeout=10)

    for (start, end), answer in zip(asked, answers, strict=True):
        assert answer.status_code == 206
        assert answer.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(BLOB)}"
        assert answer.content == BLOB[start:end]
    assert suffix.content == BLOB[-5000:]
    assert open_ended.content == BLOB[-70_000:]


def test_the_head_the_index_and_the_expected_clip_are_fetched_before_ffmpeg_asks(upstream, tmp_path):
    # Given the cache started for a clip expected at 1,000,000 (600,000 bytes)
    with rangecache.cached(upstream.url, len(BLOB), tmp_path, PLAN) as (url, cache):
        settle(upstream)
        before = list(upstream.ranges)
        # When ffmpeg reads the head, the index at the end and the clip
        reads = [read(url, 0, 64 * 1024), read(url, len(BLOB) - 200_000, len(BLOB)), read(url, 1_000_000, 1_500_000)]
        settle(upstream)

    # Then all of it was fetched at the start, in one round of parallel GETs, and every read was a hit
    assert covered(before, 0, PLAN.head_bytes)
    assert covered(before, len(BLOB) - PLAN.tail_bytes, len(BLOB))
    assert covered(before, PLAN.clip_at, PLAN.clip_at + PLAN.clip_bytes)
    assert upstream.ranges == before
    assert all(r.status_code == 206 for r in reads)
    # and S3 sent what was fetched, nothing else (whole pieces: at most one piece more per range)
    assert (
        cache.fetched_bytes
        == upstream.fetched()
        <= PLAN.head_bytes + PLAN.tail_bytes + PLAN.clip_bytes + 3 * PIECE_BYTES
    )


def test_a_read_where_nothing_was_expected_is_fetched_when_asked_and_served_right(upstream, tmp_path):
    with rangecache.cached(upstream.url, len(BLOB), tmp_path, PLAN) as (url, _):
        settle(upstream)
        before = len(upstream.ranges)
        # 2,500,000 is neither head, tail nor near the expected clip
        answer = read(url, 2_500_000, 2_560_000)
        settle(upstream)
        new = upstream.ranges[before:]

    assert answer.content == BLOB[2_500_000:2_560_000]
    assert new and covered(new, 2_500_000, 2_560_000)
    # only a small read-ahead, not a clip's span, where the clip is not expected
    assert sum(end - start for start, end in new) <= 2 * PLAN.ahead_bytes


def test_a_failed_fetch_answers_502_and_the_next_ask_fetches_again(upstream, tmp_path):
    with rangecache.cached(upstream.url, len(BLOB), tmp_path, PLAN) as (url, _):
        settle(upstream)
        upstream.failures = 10  # more than urllib3's retries of one GET
        failed = read(url, 2_500_000, 2_560_000)
        upstream.failures = 0
        retried = read(url, 2_500_000, 2_560_000)

    assert failed.status_code == 502  # ffmpeg says "Server returned 5XX": a transient failure, retried
    assert retried.status_code == 206 and retried.content == BLOB[2_500_000:2_560_000]


def test_only_its_own_random_path_is_served_and_the_presigned_url_never_is(upstream, tmp_path):
    with rangecache.cached(upstream.url, len(BLOB), tmp_path, PLAN) as (url, _):
        other = requests.get(url.rsplit("/", 1)[0] + "/src", headers={"Range": "bytes=0-9"}, timeout=10)

    assert other.status_code == 404
    assert "secret" not in url and url.startswith("http://127.0.0.1:")


def test_a_cache_whose_reader_left_closes_without_waiting_for_its_fetches(upstream, tmp_path: Path):
    # Given an upstream that takes its time, and a cache fetching a whole clip from it
    upstream.delay_s = 2.0
    slow = Plan(head_bytes=PIECE_BYTES, tail_bytes=PIECE_BYTES, clip_at=0, clip_bytes=len(BLOB), clip_slack=0)
    started = time.monotonic()
    with rangecache.cached(upstream.url, len(BLOB), tmp_path, slow):
        pass
    # When the cut is over at once, closing does not wait for the fetches under way
    assert time.monotonic() - started < 1.0
