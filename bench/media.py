"""Sections 1 and 2: clip and validation cost against source length, ours against the naive path.

Both run the real `practika` code in this process with its S3 client pointed at the counting proxy
(so presigned URLs are signed for the proxy and every byte ffmpeg or ffprobe pulls is counted at
the endpoint). The naive path is what most Lambda ffmpeg examples do: download the whole object to
/tmp, then run the same ffmpeg command on the local file.
"""

import json
import resource
import shutil
import statistics
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import sources
from bench.proxy import CountingProxy

CLIP_S = 10.0
MODES = ("fast", "accurate")
# Accurate-clip time against clip length (30-minute source, S3-like link): smart cut vs full re-encode.
LENGTHS_S = (10.0, 30.0, 60.0)
PAIRED_REPEATS = 5  # fast/accurate pairs per clip length (length_section)
# Later starts of the 10 s clip in the same GOP (seconds after its key frame): 75%, 50% and 25% of a
# 2 s GOP re-encoded (`_phase_rows`).
PHASE_OFFSETS_S = (0.5, 1.0, 1.5)


def _child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def put_sources(s3: Any, bucket: str) -> dict[int, dict[str, Any]]:
    """Upload each cached source once (straight to moto, not through the proxy)."""
    placed = {}
    for minutes in sources.MINUTES:
        path = sources.source(minutes)
        key = f"bench/src-{minutes}min.mp4"
        s3.upload_file(str(path), bucket, key)
        placed[minutes] = {
            "minutes": minutes,
            "bucket": bucket,
            "key": key,
            "path": path,
            "size_bytes": path.stat().st_size,
            "moov_bytes": sources.moov_size(path),
            "duration_s": _duration(path),
        }
    return placed


def _duration(path: Path) -> float:
    from practika.media import tools

    result = tools.run(
        [tools.binary("ffprobe"), "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)], 30
    )
    return float(result.stdout.decode().strip())


def _presign(bucket: str, key: str) -> str:
    from practika import aws

    url: str = aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=900
    )
    return url


def endpoint_get_ms(bucket: str, key: str, size_bytes: int, tries: int = 5) -> float:
    """Median time of one 64 KiB range GET mid-object: the endpoint's fixed cost per request.

    Real S3 serves a range in roughly constant time; moto reads (and copies) the whole object for
    every GET, so on the local stack this grows with the object and taxes every range request.
    """
    from practika import aws

    times = []
    for _ in range(tries):
        started = time.perf_counter()
        middle = size_bytes // 2
        aws.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes={middle}-{middle + 65535}")["Body"].read()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _via(url: str, proxy: CountingProxy) -> str:
    """The presigned URL sent through `proxy` (moto does not check the signature's host)."""
    parts = urlsplit(url)
    return proxy.url + parts.path + (f"?{parts.query}" if parts.query else "")


@cache
def _s3_through(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def ours_clip(
    proxy: CountingProxy, src: dict[str, Any], start_s: float, mode: str, length_s: float = CLIP_S
) -> dict[str, Any]:
    """The clip worker's path: presign, then `cut_clip` seeking over HTTP range reads, its requests
    sized from the source's byte rate as the worker does from the video's record."""
    from practika.media.cut import cut_clip

    proxy.counter.reset()
    cpu0, t0 = _child_cpu_s(), time.perf_counter()
    url = _via(_presign(src["bucket"], src["key"]), proxy)
    rate = src["size_bytes"] / src["duration_s"]
    end_s = start_s + length_s
    with cut_clip(
        url,
        start_s=start_s,
        end_s=end_s,
        mode=mode,
        timeout_s=600,
        source_bytes_per_s=rate,
        source_size=src["size_bytes"],
    ) as result:
        clip = {
            "duration_s": result.duration_s,
            "start_s": result.start_s,
            "size_bytes": result.size_bytes,
            "ffmpeg_bytes_read": result.source_bytes_read,
            "method": result.method,
        }
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "cpu_s": _child_cpu_s() - cpu0, **proxy.counter.snapshot(), "clip": clip}


def full_reencode_clip(proxy: CountingProxy, src: dict[str, Any], start_s: float, length_s: float) -> dict[str, Any]:
    """Accurate clips before smart cuts (and the fallback for sources they do not handle): one read
    of the source over range requests of the same size as ours, every frame re-encoded."""
    from practika.media import cut, tools

    proxy.counter.reset()
    workdir = Path(tempfile.mkdtemp(prefix="bench-full-"))
    try:
        cpu0, t0 = _child_cpu_s(), time.perf_counter()
        url = _via(_presign(src["bucket"], src["key"]), proxy)
        size = cut.request_bytes(src["size_bytes"] / src["duration_s"], length_s)
        end_s = start_s + length_s
        clip = workdir / "clip.mp4"
        tools.run(cut.build_command(url, clip, seek_s=start_s, end_s=end_s, mode="accurate", request_size=size), 900)
        return {"wall_s": time.perf_counter() - t0, "cpu_s": _child_cpu_s() - cpu0, **proxy.counter.snapshot()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def naive_clip(proxy: CountingProxy, bucket: str, key: str, start_s: float, mode: str) -> dict[str, Any]:
    """Download the whole object to /tmp, then cut it with the same ffmpeg command."""
    from practika.media import cut, tools

    proxy.counter.reset()
    workdir = Path(tempfile.mkdtemp(prefix="bench-naive-"))
    try:
        cpu0, t0 = _child_cpu_s(), time.perf_counter()
        local = workdir / "source.mp4"
        # boto3's transfer manager, as Lambda examples use it: 8 MB parts on 10 connections at once.
        _s3_through(proxy.url).download_file(bucket, key, str(local))
        downloaded = time.perf_counter() - t0
        seek = start_s
        if mode == "fast":  # the usual example: -ss before -i on the local file, stream copy
            seek = start_s
        args = cut.build_command(str(local), workdir / "clip.mp4", seek_s=seek, end_s=start_s + CLIP_S, mode=mode)
        # Same command; only the input is a local file, so the protocol lock allows `file`.
        args = [("file" if a == tools.allowed_protocols() else a) for a in args]
        tools.run(args, 600)
        wall = time.perf_counter() - t0
        return {
            "wall_s": wall,
            "download_s": downloaded,
            "cpu_s": _child_cpu_s() - cpu0,
            **proxy.counter.snapshot(),
            "tmp_bytes": local.stat().st_size,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time, plus every run's wall time."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["wall_s_runs"] = [round(r["wall_s"], 3) for r in runs]
    chosen["wall_s"] = statistics.median(r["wall_s"] for r in runs)
    return chosen


def clip_section(
    proxy: CountingProxy, bucket: str, placed: dict[int, dict[str, Any]], repeats: int, log: Any
) -> dict[str, Any]:
    rows = []
    get_ms = {minutes: endpoint_get_ms(bucket, src["key"], src["size_bytes"]) for minutes, src in placed.items()}
    if proxy.link is None:
        log("  endpoint cost of one 64 KiB range GET: " + ", ".join(f"{m} min {ms:.0f} ms" for m, ms in get_ms.items()))
    for minutes, src in placed.items():
        start = round(src["duration_s"] / 2 + 0.37, 3)  # mid-file, between key frames
        for mode in MODES:
            ours = _median_run([ours_clip(proxy, src, start, mode) for _ in range(repeats)])
            naive = _median_run([naive_clip(proxy, bucket, src["key"], start, mode) for _ in range(1)])
            row = {
                "minutes": minutes,
                "mode": mode,
                "start_s": start,
                "source_bytes": src["size_bytes"],
                "ours": ours,
                "naive": naive,
                "floor_bytes": physical_floor(src, start, start + CLIP_S),
                "bytes_fraction": ours["bytes"] / src["size_bytes"],
                "speedup": naive["wall_s"] / ours["wall_s"],
                "endpoint_get_ms": get_ms[minutes],
            }
            # What the run would take if each GET cost what it costs on the smallest object (as on S3,
            # where a range GET does not slow down with the object's size): an estimate, not a measurement.
            extra_s = (get_ms[minutes] - min(get_ms.values())) / 1000
            ours_flat = max(0.0, ours["wall_s"] - ours["requests"] * extra_s)
            # boto3's download_file makes its ranged GETs 10 at a time.
            naive_flat = max(0.0, naive["wall_s"] - -(-naive["requests"] // 10) * extra_s)
            row["speedup_flat_get_estimate"] = naive_flat / ours_flat if ours_flat else None
            flat = "" if proxy.link else f" (x{row['speedup_flat_get_estimate'] or 0:.1f} with flat GET cost, estimate)"
            log(
                f"  clip {mode:8} {minutes:2} min: ours {ours['wall_s']:.2f}s {ours['bytes'] / 1e6:.2f} MB "
                f"({ours['requests']} GETs, {ours['clip']['method']}) | naive {naive['wall_s']:.2f}s "
                f"{naive['bytes'] / 1e6:.1f} MB ({naive['requests']} GETs) | x{row['speedup']:.1f}{flat}"
            )
            rows.append(row)
    return {"clip_s": CLIP_S, "rows": rows, "endpoint_get_ms": get_ms}


# The scan of the video's packets (eight key frames and the tail, media.probe.scan_video) on top of
# the index probe's 2 MB: ~0.3 MB on these 720p sources.
SCAN_BUDGET_BYTES = 512 * 1024


def _inspect_runs(proxy: CountingProxy, bucket: str, src: dict[str, Any], repeats: int) -> dict[str, Any]:
    from practika.videos import validation

    runs = []
    for _ in range(repeats):
        proxy.counter.reset()
        cpu0, t0 = _child_cpu_s(), time.perf_counter()
        verdict = validation.inspect(bucket, src["key"], src["size_bytes"], 120.0)
        wall = time.perf_counter() - t0
        if verdict.media is None:
            raise RuntimeError(f"bench source rejected: {verdict.rejection}")
        runs.append({"wall_s": wall, "cpu_s": _child_cpu_s() - cpu0, **proxy.counter.snapshot()})
    return _median_run(runs)


def physical_floor(src: dict[str, Any], start_s: float, end_s: float) -> int:
    """The least any cut must read: the index plus every packet of the GOPs the clip spans (from the
    key frame at or before the start to the first key frame at or after the end), all streams."""
    from practika.media import tools

    interval = f"{max(0.0, start_s - 5):.3f}%{end_s + 5:.3f}"
    out = tools.run(
        [
            tools.binary("ffprobe"),
            "-v",
            "error",
            "-read_intervals",
            interval,
            "-show_entries",
            "packet=stream_index,pts_time,size,flags:stream=index,codec_type",
            "-of",
            "json",
            str(src["path"]),
        ],
        120,
    ).stdout
    document = json.loads(out)
    video = next(s["index"] for s in document["streams"] if s["codec_type"] == "video")
    packets = [p for p in document["packets"] if "pts_time" in p]
    keys = sorted(float(p["pts_time"]) for p in packets if p["stream_index"] == video and "K" in p["flags"])
    first = max((k for k in keys if k <= start_s + 1e-6), default=0.0)
    after = min((k for k in keys if k >= end_s - 1e-6), default=float("inf"))
    spanned = sum(int(p["size"]) for p in packets if first <= float(p["pts_time"]) < after)
    return int(src["moov_bytes"]) + spanned


def length_section(proxy: CountingProxy, src: dict[str, Any], repeats: int, log: Any) -> dict[str, Any]:
    """Fast, smart-accurate and fully re-encoded clips of growing length from one source, on `proxy`."""
    rows = []
    start = round(src["duration_s"] / 2 + 0.37, 3)
    for length in LENGTHS_S:
        # Fast and accurate runs take turns, so a machine that slows down for a while (a shared VM
        # does, by a third for minutes) slows both alike; their ratio is a target, so at least 5 pairs.
        pairs = [
            (ours_clip(proxy, src, start, "fast", length), ours_clip(proxy, src, start, "accurate", length))
            for _ in range(max(repeats, PAIRED_REPEATS))
        ]
        fast = _median_run([f for f, _ in pairs])
        smart = _median_run([a for _, a in pairs])
        full = full_reencode_clip(proxy, src, start, length)
        floor = physical_floor(src, start, start + length)
        rows.append(
            {"length_s": length, "start_s": start, "fast": fast, "smart": smart, "full": full, "floor_bytes": floor}
        )
        log(
            f"  {length:4.0f} s clip: fast {fast['wall_s']:.2f}s | accurate {smart['clip']['method']} "
            f"{smart['wall_s']:.2f}s ({smart['cpu_s']:.2f} CPU-s, {smart['bytes'] / floor:.2f}x floor) | "
            f"full re-encode {full['wall_s']:.2f}s ({full['cpu_s']:.2f} CPU-s)"
        )
    return {"source_minutes": src["minutes"], "rows": rows, "phases": _phase_rows(proxy, src, rows, log)}


def _phase_rows(
    proxy: CountingProxy, src: dict[str, Any], rows: list[dict[str, Any]], log: Any
) -> list[dict[str, Any]]:
    """The 10 s clip again from later points in the same GOP: an accurate clip re-encodes the frames
    from its start to the next key frame, so its cost over a fast clip's depends on where in the GOP
    it starts (a start anywhere re-encodes half a GOP on average)."""
    row = next((r for r in rows if r["length_s"] == CLIP_S), None)
    if row is None:
        return []
    key_frame_s = row["fast"]["clip"]["start_s"]  # a fast clip starts on the key frame at or before the start
    gop_s = sources.GOP / sources.FPS
    log(f"  the 10 s clip above starts {row['start_s'] - key_frame_s:.2f} s after a key frame "
        f"({1 - (row['start_s'] - key_frame_s) / gop_s:.0%} of the GOP re-encoded)")  # fmt: skip
    phases = []
    for offset_s in PHASE_OFFSETS_S:
        start = round(key_frame_s + offset_s, 3)
        pairs = [
            (ours_clip(proxy, src, start, "fast", CLIP_S), ours_clip(proxy, src, start, "accurate", CLIP_S))
            for _ in range(PAIRED_REPEATS)
        ]
        fast, smart = _median_run([f for f, _ in pairs]), _median_run([a for _, a in pairs])
        share = 1 - offset_s / gop_s
        phases.append({"start_s": start, "head_share": share, "fast": fast, "smart": smart})
        log(
            f"  10 s clip {offset_s:.1f} s after a key frame ({share:.0%} of the GOP re-encoded): fast "
            f"{fast['wall_s']:.2f}s | accurate {smart['wall_s']:.2f}s, x{smart['wall_s'] / fast['wall_s']:.2f}"
        )
    return phases


def validation_section(
    proxy: CountingProxy, bucket: str, placed: dict[int, dict[str, Any]], repeats: int, log: Any
) -> dict[str, Any]:
    """The validate worker's inspection (sniff, ffprobe of the index, scan of the video's packets) over a
    presigned GET; then the cost of reading a file whole, as for one without an index (a live recording)."""
    import os

    from practika import settings

    rows = []
    for minutes, src in placed.items():
        run = _inspect_runs(proxy, bucket, src, repeats)
        limit = 2 * 1024 * 1024 + src["moov_bytes"] + SCAN_BUDGET_BYTES
        rows.append(
            {
                "minutes": minutes,
                "source_bytes": src["size_bytes"],
                "moov_bytes": src["moov_bytes"],
                "limit_bytes": limit,
                **run,
            }
        )
        log(
            f"  validate {minutes:2} min: {run['wall_s']:.2f}s {run['bytes'] / 1e6:.2f} MB ({run['requests']} GETs), "
            f"limit {limit / 1e6:.2f} MB"
        )
    minutes, src = min(placed.items())
    os.environ["SCAN_WHOLE_BYTES"] = str(src["size_bytes"])
    settings.validation_settings.cache_clear()
    try:
        whole = _inspect_runs(proxy, bucket, src, repeats)
    finally:
        del os.environ["SCAN_WHOLE_BYTES"]
        settings.validation_settings.cache_clear()
    whole["mb_per_s"] = whole["bytes"] / 1e6 / whole["wall_s"]
    log(
        f"  validate {minutes:2} min read whole (the index-less path): {whole['wall_s']:.2f}s "
        f"{whole['bytes'] / 1e6:.2f} MB ({whole['requests']} GETs), {whole['mb_per_s']:.0f} MB/s"
    )
    return {"rows": rows, "whole": {"minutes": minutes, "source_bytes": src["size_bytes"], **whole}}
