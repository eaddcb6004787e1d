"""A local read-through cache in front of a presigned GET, so ffmpeg's round trips stay on the machine.

ffmpeg reads a source over HTTP in requests it makes one after another: the file's head, its index
(at the end of camera files), the first packets (for stream information), then the clip. On S3 each
pays the time to first byte (60 ms or more from Lambda), so four round trips pass before ffmpeg even
knows where the clip is (bench/README.md). Here ffmpeg reads from a server on 127.0.0.1 instead,
which keeps the pieces of the object it has fetched in a local file (one after another, as they
arrive: the disk holds what was fetched, never the object's size) and:

- fetches, at once when it starts, the object's head and tail (the index of a camera file and the
  first packets come from those) and the bytes where an even byte rate puts the clip, in pieces
  over parallel connections: one round of first bytes for all of it;
- answers a range it holds at once; for one it lacks it fetches the clip's expected span if the
  read is near where the clip was expected, else the range and a small read-ahead;
- keeps a growing read-ahead for a reading that goes on in order past all that.
`Plan` says how much of each (practika.media.cut sizes them from the video's size and byte rate).

Pieces fetched are counted (`fetched_bytes`): what the cut cost at S3, whatever ffmpeg re-read.
The server serves one object, on loopback only, under a random path; it never logs the URL (a
presigned query is a credential). A failed fetch answers 502, which ffmpeg reports as "Server
returned 5XX" (a transient error: the clip is tried again).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import urllib3

PIECE_BYTES = 64 * 1024
# A range to fetch is split over up to SPLIT parallel GETs of at least MIN_GET_PIECES pieces: every
# GET pays the time to first byte, and a function's bandwidth is shared by all of them, so more and
# smaller GETs would only add first bytes. CONNECTIONS lets the first round (head, index and clip,
# up to 9 GETs) go out at once: with 4, it took three rounds of first bytes.
MIN_GET_PIECES = 4
SPLIT = 4
CONNECTIONS = 12
# An in-order reading past what was expected (the clip's span underestimated) gets a read-ahead that
# doubles up to this many times its first size: what it reads past the clip's end is fetched for nothing.
AHEAD_GROWTH = 4
FETCH_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Plan:
    """What the cache fetches besides what ffmpeg asks for."""

    head_bytes: int  # at the start: the container's header, and in MP4 the first packets (stream info)
    tail_bytes: int  # at the start: a camera file's index (a 30-minute 720p moov is 1 MB)
    clip_at: int  # where the clip's bytes are expected to start (-1: not known)
    clip_bytes: int  # how many bytes the clip is expected to span
    clip_slack: int  # how far from `clip_at` a read still counts as the clip's
    ahead_bytes: int = 4 * PIECE_BYTES  # first read-ahead of an in-order reading (grows, see AHEAD_GROWTH)

    def near_clip(self, offset: int) -> bool:
        return self.clip_at >= 0 and abs(offset - self.clip_at) <= self.clip_slack

    def in_clip(self, offset: int) -> bool:
        return self.clip_at >= 0 and self.clip_at <= offset < self.clip_at + self.clip_bytes


class FetchFailed(Exception):
    """S3 did not answer a range with its bytes."""


class RangeCache:
    """The pieces of one object fetched so far, appended to a file as they arrive."""

    def __init__(self, url: str, size: int, path: Path, plan: Plan) -> None:
        self.size = size
        self.plan = plan
        self.fetched_bytes = 0
        self._url = url
        self._http = urllib3.PoolManager(maxsize=CONNECTIONS, retries=urllib3.Retry(2, backoff_factor=0.1))
        self._pool = ThreadPoolExecutor(max_workers=CONNECTIONS, thread_name_prefix="range")
        self._lock = threading.Lock()
        self._pieces: dict[int, Future[None]] = {}
        self._fetching = 0
        self._closed = False
        self._last_end = -1
        self._window = plan.ahead_bytes
        self._stored: dict[int, int] = {}  # piece -> where its bytes are in the file
        self._file_end = 0
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)

    def close(self) -> None:
        """Stop fetching without waiting: queued fetches are dropped, and the file is closed by the
        last fetch still under way (waiting for a read-ahead would delay every clip by a round trip)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._closed = True
            waiting = [future for future in self._pieces.values() if not future.done()]
            if self._fetching == 0:
                os.close(self._fd)
        _settle(waiting, FetchFailed("the cache is closed"))  # a reader left behind by a killed ffmpeg

    def prefetch(self, start: int, end: int) -> list[Future[None]]:
        """Start fetching the pieces of [start, end) not held or coming yet; their futures, all of them."""
        end = min(end, self.size)
        if start >= end:
            return []
        first, last = start // PIECE_BYTES, (end - 1) // PIECE_BYTES
        wanted: list[Future[None]] = []
        missing: list[int] = []
        with self._lock:
            for piece in range(first, last + 1):
                if piece not in self._pieces:
                    self._pieces[piece] = Future()
                    missing.append(piece)
                wanted.append(self._pieces[piece])
        for run in _runs(missing):
            try:
                self._pool.submit(self._fetch, run)
            except RuntimeError:  # closed: nobody reads any more
                break
        return wanted

    def ask(self, start: int, end: int) -> bytes:
        """Bytes [start, end) for ffmpeg, with what it will want next fetched first.

        A read it does not hold where the clip is expected is the clip: its whole expected span is
        fetched at once (one round trip). A read that goes on where the last ended gets a read-ahead
        that doubles each time (up to AHEAD_GROWTH), so an underestimated clip costs a round trip or
        two more, never a wrong byte. Reads inside what was fetched at the start (head, tail,
        expected clip) get none: ffmpeg seeks away after the header and index, and the clip's span
        has its margin (a read-ahead past it was fetched for nothing when the clip ended inside).
        """
        plan = self.plan
        with self._lock:
            in_order = start == self._last_end
            self._window = min(self._window * 2, AHEAD_GROWTH * plan.ahead_bytes) if in_order else plan.ahead_bytes
            self._last_end, window, held = end, self._window, start // PIECE_BYTES in self._pieces
            frontier = end // PIECE_BYTES
            while frontier in self._pieces:
                frontier += 1
        fetched_first = end <= plan.head_bytes or end >= self.size - plan.tail_bytes or plan.in_clip(end)
        if not held and plan.near_clip(start):
            self.prefetch(start, start + plan.clip_bytes)
        elif not fetched_first and frontier * PIECE_BYTES - end < window // 2:
            # Past what was fetched at the start (the clip ran longer than expected): fetched in one
            # batch when less than half a window is left ahead, not a piece at a time.
            self.prefetch(frontier * PIECE_BYTES, frontier * PIECE_BYTES + window)
        return self.read(start, end)

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end), fetched first where missing; raises FetchFailed."""
        for future in self.prefetch(start, end):
            future.result()
        first = start // PIECE_BYTES
        with self._lock:
            stored = [self._stored[piece] for piece in range(first, (end - 1) // PIECE_BYTES + 1)]
        pieces = b"".join(os.pread(self._fd, PIECE_BYTES, at) for at in stored)
        skip = start - first * PIECE_BYTES
        return pieces[skip : skip + end - start]

    def _fetch(self, pieces: list[int]) -> None:
        start = pieces[0] * PIECE_BYTES
        end = min((pieces[-1] + 1) * PIECE_BYTES, self.size)
        with self._lock:
            if self._closed:  # the file may be closed already
                return
            futures = [self._pieces[p] for p in pieces]
            self._fetching += 1
        try:
            answer = self._http.request(
                "GET", self._url, headers={"Range": f"bytes={start}-{end - 1}"}, timeout=FETCH_TIMEOUT_S
            )
            if answer.status != 206 or len(answer.data) != end - start:
                raise FetchFailed(f"S3 answered {answer.status} with {len(answer.data)} bytes for {end - start}")
            with self._lock:
                at, self._file_end = self._file_end, self._file_end + len(answer.data)
            os.pwrite(self._fd, answer.data, at)
            with self._lock:
                for index, piece in enumerate(pieces):
                    self._stored[piece] = at + index * PIECE_BYTES
                self.fetched_bytes += end - start
            _settle(futures, None)
        except Exception as error:  # noqa: BLE001 - any failure must reach the reader waiting on the piece
            failed = error if isinstance(error, FetchFailed) else FetchFailed(type(error).__name__)
            with self._lock:  # a later read tries these pieces again
                for piece in pieces:
                    self._pieces.pop(piece, None)
            _settle(futures, failed)
        finally:
            with self._lock:
                self._fetching -= 1
                if self._closed and self._fetching == 0:
                    os.close(self._fd)


def _settle(futures: list[Future[None]], error: Exception | None) -> None:
    """Resolve the futures not resolved yet (closing may have failed them already)."""
    for future in futures:
        try:
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)
        except InvalidStateError:
            pass


def _runs(pieces: list[int]) -> Iterator[list[int]]:
    """Consecutive pieces, each stretch split into up to SPLIT even runs of MIN_GET_PIECES or more."""
    stretch: list[int] = []
    for piece in [*pieces, -1]:
        if stretch and piece != stretch[-1] + 1:
            parts = max(1, min(SPLIT, len(stretch) // MIN_GET_PIECES))
            step = -(-len(stretch) // parts)
            yield from (stretch[i : i + step] for i in range(0, len(stretch), step))
            stretch = []
        stretch.append(piece)


def _handler(cache: RangeCache, path: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # the default writes every request line to stderr

        def do_GET(self) -> None:
            if self.path != path:
                self.send_error(404)
                return
            start, end = _range(self.headers.get("Range"), cache.size)
            if start >= end:
                self.send_error(416)
                return
            try:
                body = cache.ask(start, end)
            except FetchFailed:
                self.send_error(502)
                return
            self.send_response(206)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{cache.size}")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # ffmpeg hangs up on a request when it seeks

    return Handler


def _range(header: str | None, size: int) -> tuple[int, int]:
    """[start, end) of a `bytes=a-b` / `bytes=a-` header within the object (the whole object without one)."""
    if not header or not header.startswith("bytes="):
        return 0, size
    first, _, last = header.removeprefix("bytes=").partition("-")
    if not first:  # a suffix: the last N bytes
        return max(0, size - int(last)), size
    return int(first), min(size, int(last) + 1) if last else size


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-answer is normal; nothing here may print the request


@contextmanager
def cached(url: str, size: int, workdir: Path, plan: Plan) -> Iterator[tuple[str, RangeCache]]:
    """A loopback URL that serves the object at `url` (of `size` bytes) through a RangeCache."""
    cache = RangeCache(url, size, workdir / "source.cache", plan)
    cache.prefetch(0, plan.head_bytes)
    cache.prefetch(max(0, size - plan.tail_bytes), size)
    if plan.clip_at >= 0:  # where an even byte rate puts the clip: fetched in the same round trip
        cache.prefetch(plan.clip_at, plan.clip_at + plan.clip_bytes)
    path = f"/{secrets.token_hex(16)}"
    server = _Server(("127.0.0.1", 0), _handler(cache, path))
    # shutdown() waits for the serving loop to look again: every 10 ms, not the default 0.5 s.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), name="range-cache", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}", cache
    finally:
        server.shutdown()
        server.server_close()
        cache.close()
