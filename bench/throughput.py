"""Section 4: N concurrent users through the local stack, and API latency under concurrency.

Each user asks for an upload URL, uploads the 1-minute 720p source with the presigned POST and
waits (polling the API) until the video is ready: upload-to-ready. Then every video gets a 10 s
fast clip at once, then a 10 s accurate clip at once: clips per minute. Then /health and POST
/videos are called from many threads at once.
"""

import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench import sources
from devstack.auth import make_token
from devstack.launcher import RunningStack

POLL_S = 0.25


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _wait(url: str, headers: dict[str, str], done: set[str], timeout_s: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body: dict[str, Any] = requests.get(url, headers=headers, timeout=30).json()
        if body.get("status") in done:
            return body
        time.sleep(POLL_S)
    raise TimeoutError(url)


def _upload(api: str, data: bytes) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {make_token('bench-' + uuid.uuid4().hex[:12])}"}
    started = time.perf_counter()
    answer = requests.post(
        f"{api}/videos",
        headers=headers,
        timeout=60,
        json={"filename": "bench.mp4", "content_type": "video/mp4", "size_bytes": len(data)},
    )
    answer.raise_for_status()
    video = answer.json()
    upload = video["upload"]
    posted = requests.post(
        upload["url"], data=upload["fields"], files={"file": ("bench.mp4", data, "video/mp4")}, timeout=120
    )
    posted.raise_for_status()
    uploaded = time.perf_counter()
    body = _wait(f"{api}/videos/{video['video_id']}", headers, {"ready", "rejected"})
    return {
        "video_id": video["video_id"],
        "headers": headers,
        "status": body["status"],
        "upload_s": uploaded - started,
        "ready_s": time.perf_counter() - started,
    }


def _clip(api: str, video: dict[str, Any], mode: str, start_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    answer = requests.post(
        f"{api}/videos/{video['video_id']}/clips",
        headers=video["headers"],
        timeout=60,
        json={"start_s": start_s, "end_s": start_s + 10, "mode": mode},
    )
    answer.raise_for_status()
    body = _wait(f"{api}/clips/{answer.json()['clip_id']}", video["headers"], {"ready", "failed"})
    return {"status": body["status"], "latency_s": time.perf_counter() - started}


def _latency(call: Callable[[], int], total: int, concurrency: int) -> dict[str, Any]:
    def timed(_: int) -> tuple[float, int]:
        started = time.perf_counter()
        status = call()
        return time.perf_counter() - started, status

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(timed, range(total)))
    wall = time.perf_counter() - started
    times = [t for t, _ in results]
    return {
        "requests": total,
        "concurrency": concurrency,
        "p50_ms": percentile(times, 50) * 1000,
        "p99_ms": percentile(times, 99) * 1000,
        "rps": total / wall,
        "errors": sum(1 for _, status in results if status >= 500),
    }


def throughput_section(stack: RunningStack, users: int, log: Any) -> dict[str, Any]:
    api = stack.api_url
    data = sources.source(1).read_bytes()
    started = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        videos = list(pool.map(lambda _: _upload(api, data), range(users)))
    uploads_wall = time.perf_counter() - started
    ready = [v for v in videos if v["status"] == "ready"]
    ready_s = [v["ready_s"] for v in videos]
    log(
        f"  {users} uploads of {len(data) / 1e6:.1f} MB: {len(ready)} ready, upload-to-ready p50 "
        f"{percentile(ready_s, 50):.1f}s p95 {percentile(ready_s, 95):.1f}s, all in {uploads_wall:.1f}s"
    )
    clips: dict[str, Any] = {}
    for mode in ("fast", "accurate"):
        started = time.perf_counter()
        with ThreadPoolExecutor(max(1, len(ready))) as pool:
            done = list(pool.map(lambda v, m=mode: _clip(api, v, m, 20.37), ready))
        wall = time.perf_counter() - started
        latencies = [c["latency_s"] for c in done]
        clips[mode] = {
            "clips": len(done),
            "ready": sum(c["status"] == "ready" for c in done),
            "wall_s": wall,
            "per_minute": len(done) / wall * 60,
            "p50_s": percentile(latencies, 50),
            "p95_s": percentile(latencies, 95),
        }
        log(
            f"  {len(done)} {mode} clips at once: {clips[mode]['per_minute']:.0f} clips/min, "
            f"request-to-ready p50 {clips[mode]['p50_s']:.1f}s p95 {clips[mode]['p95_s']:.1f}s"
        )

    def health() -> int:
        return requests.get(f"{api}/health", timeout=30).status_code

    def post_video() -> int:
        headers = {"Authorization": f"Bearer {make_token('bench-api-' + uuid.uuid4().hex[:12])}"}
        return requests.post(
            f"{api}/videos",
            headers=headers,
            timeout=30,
            json={"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1000},
        ).status_code

    api_latency = {"health": _latency(health, 200, 10), "post_videos": _latency(post_video, 100, 10)}
    for name, row in api_latency.items():
        log(
            f"  API {name}: p50 {row['p50_ms']:.0f} ms p99 {row['p99_ms']:.0f} ms, {row['rps']:.0f} req/s "
            f"at {row['concurrency']} concurrent, {row['errors']} 5xx"
        )
    return {
        "users": users,
        "source_bytes": len(data),
        "uploads_wall_s": uploads_wall,
        "ready": len(ready),
        "upload_to_ready_p50_s": percentile(ready_s, 50),
        "upload_to_ready_p95_s": percentile(ready_s, 95),
        "upload_p50_s": statistics.median(v["upload_s"] for v in videos),
        "clips": clips,
        "api": api_latency,
        "local_concurrency": "2 warm environments per function (devstack default)",
    }
