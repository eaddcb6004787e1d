"""`make bench`: every section in one run, a table of targets met or missed, JSON and a chart.

    PYTHONPATH=layers/shared:local:. .venv/bin/python -m bench.run [--users 20] [--repeats 3]

Numbers are ratios measured in one run on this machine (ours against the naive path, handlers
against a bare handler); absolute times on a shared machine are context only.
"""

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
FFMPEG_BIN = ROOT / ".cache" / "ffmpeg" / "bin"
BUCKET = "practika-bench-sources"

# Public AWS Lambda prices (x86, us-east-1, first pricing tier) as assumed on this date.
PRICES = {
    "date": "2026-11-26",
    "region": "us-east-1",
    "lambda_gb_s_usd": 0.0000166667,
    "lambda_requests_usd_per_million": 0.20,
    "s3_get_usd_per_1000": 0.0004,
}
MEMORY_POINTS_MB = (512, 1024, 1769, 2048, 3008)
MB_PER_VCPU = 1769  # Lambda gives one full vCPU at 1769 MB, proportionally less below
COLD_START_ROUNDS = 7
# The S3-like link (bench/README, "S3-like link", cites all three): time to first byte of a GET from
# Lambda in the bucket's region, what one connection carries (AWS: one request per 85-90 MB/s), and
# what a function receives on all its connections together (measured: 400-700 Mbit/s).
FIRST_BYTE_MS = 60.0
CONNECTION_MB_S = 85.0
FUNCTION_MB_S = 75.0


def log(message: str) -> None:
    print(message, flush=True)


def _environment(proxy_url: str) -> None:
    """The in-process practika code talks to S3 through the counting proxy."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": proxy_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "MEDIA_ALLOW_HTTP": "1",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "1",
            "POWERTOOLS_SERVICE_NAME": "bench",
            "ENVIRONMENT": "bench",
            "UPLOADS_BUCKET": BUCKET,
        }
    )
    if str(FFMPEG_BIN) not in os.environ.get("PATH", ""):
        os.environ["PATH"] = f"{FFMPEG_BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    ffmpeg = subprocess.run([str(FFMPEG_BIN / "ffmpeg"), "-version"], capture_output=True, text=True, check=False)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "ffmpeg": ffmpeg.stdout.split("\n", 1)[0],
        "load_avg_at_start": os.getloadavg(),
    }


def _invocation_cost(duration_s: float, memory_mb: int) -> float:
    return duration_s * memory_mb / 1024 * PRICES["lambda_gb_s_usd"] + PRICES["lambda_requests_usd_per_million"] / 1e6


def _scaled_duration(wall_s: float, cpu_s: float, memory_mb: int) -> float:
    """Duration at another memory size: the run here used cpu/wall CPUs on average; Lambda gives
    memory/1769 vCPUs, and below what the run used the CPU-bound part slows down in proportion.
    More vCPUs than the run used are assumed to buy nothing (conservative)."""
    used = cpu_s / wall_s if wall_s > 0 else 0
    vcpus = memory_mb / MB_PER_VCPU
    return wall_s * max(1.0, used / vcpus) if used > 0 else wall_s


def cost_section(clips: dict[str, Any], validation: dict[str, Any], memory: dict[str, int]) -> dict[str, Any]:
    validate_mb, worker_mb = memory["ValidateFunction"], memory["ClipWorkerFunction"]
    per_video = []
    for row in validation["rows"]:
        per_video.append(
            {
                "minutes": row["minutes"],
                "duration_s": row["wall_s"],
                "memory_mb": validate_mb,
                "usd": _invocation_cost(row["wall_s"], validate_mb)
                + row["requests"] * PRICES["s3_get_usd_per_1000"] / 1000,
            }
        )
    per_clip_minute = []
    for row in clips["rows"]:
        for path in ("ours", "naive"):
            run = row[path]
            gets = run["requests"] * PRICES["s3_get_usd_per_1000"] / 1000
            per_clip = _invocation_cost(run["wall_s"], worker_mb) + gets
            memory_trade = {
                str(mb): {
                    "duration_s": _scaled_duration(run["wall_s"], run["cpu_s"], mb),
                    "usd_per_clip_minute": _invocation_cost(_scaled_duration(run["wall_s"], run["cpu_s"], mb), mb)
                    * 60
                    / clips["clip_s"],
                }
                for mb in MEMORY_POINTS_MB
            }
            per_clip_minute.append(
                {
                    "minutes": row["minutes"],
                    "mode": row["mode"],
                    "path": path,
                    "duration_s": run["wall_s"],
                    "cpu_s": run["cpu_s"],
                    "memory_mb": worker_mb,
                    "usd_per_clip_minute": per_clip * 60 / clips["clip_s"],
                    "memory_trade": memory_trade,
                }
            )
    return {
        "prices": PRICES,
        "per_validated_video": per_video,
        "per_clip_minute": per_clip_minute,
        "memory_model": "duration(m) = wall * max(1, (cpu/wall) / (m/1769)); no speed-up assumed above "
        "what the run here used",
        "ephemeral_storage_note": "the naive path also needs /tmp as large as the source (10 GB max); "
        "ours needs the clip only",
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def target(name: str, measured: str, goal: str, met: bool) -> None:
        rows.append({"target": name, "measured": measured, "goal": goal, "met": bool(met)})

    clips = {(r["minutes"], r["mode"]): r for r in results["clips"]["rows"]}
    longest, shortest = max(m for m, _ in clips), min(m for m, _ in clips)
    for mode in ("fast", "accurate"):
        big, small = clips[(longest, mode)], clips[(shortest, mode)]
        target(
            f"{mode} clip bytes, {longest}-min source",
            f"{big['bytes_fraction'] * 100:.2f}% of file",
            "<= 5%",
            big["bytes_fraction"] <= 0.05,
        )
        ratio = big["ours"]["bytes"] / small["ours"]["bytes"]
        target(f"{mode} clip bytes, {longest}-min vs {shortest}-min", f"x{ratio:.2f}", "<= x1.5", ratio <= 1.5)
    fast = clips[(longest, "fast")]
    target(f"fast clip speed-up vs naive, {longest}-min", f"x{fast['speedup']:.1f}", ">= x10", fast["speedup"] >= 10)
    linked = {(r["minutes"], r["mode"]): r for r in results.get("clips_s3_like", {}).get("rows", [])}
    for mode, goal in (("fast", 30), ("accurate", 10)):
        if (longest, mode) in linked:
            row = linked[(longest, mode)]
            target(
                f"{mode} clip speed-up vs naive, {longest}-min, S3-like link",
                f"x{row['speedup']:.1f} ({row['ours']['wall_s']:.2f} vs {row['naive']['wall_s']:.2f} s)",
                f">= x{goal}",
                row["speedup"] >= goal,
            )
    for mode in ("fast", "accurate"):
        if (longest, mode) in linked:
            row = linked[(longest, mode)]
            ratio = row["ours"]["bytes"] / row["floor_bytes"]
            measured = f"x{ratio:.2f} ({row['ours']['bytes'] / 1e6:.2f} / {row['floor_bytes'] / 1e6:.2f} MB)"
            target(f"{mode} clip bytes vs physical floor, {longest}-min", measured, "<= x1.5", ratio <= 1.5)
    lengths = {r["length_s"]: r for r in results.get("lengths", {}).get("rows", [])}
    for length in (10.0, 60.0):
        if length in lengths:
            row = lengths[length]
            ratio = row["smart"]["wall_s"] / row["fast"]["wall_s"]
            target(
                f"accurate vs fast clip time, {length:.0f} s clip, S3-like",
                f"x{ratio:.2f} ({row['smart']['wall_s']:.2f} vs {row['fast']['wall_s']:.2f} s)",
                "<= x2",
                ratio <= 2,
            )
    if 10.0 in lengths and 60.0 in lengths:
        ratio = lengths[60.0]["smart"]["cpu_s"] / lengths[10.0]["smart"]["cpu_s"]
        target(
            "accurate clip CPU-s, 60 s vs 10 s clip",
            f"x{ratio:.2f} ({lengths[60.0]['smart']['cpu_s']:.2f} / {lengths[10.0]['smart']['cpu_s']:.2f})",
            "<= x1.5",
            ratio <= 1.5,
        )
    for row in results["validation"]["rows"]:
        target(
            f"validation bytes, {row['minutes']}-min",
            f"{row['bytes'] / 1e6:.2f} MB",
            f"<= {row['limit_bytes'] / 1e6:.2f} MB (2 MB + moov + 512 KiB scan)",
            row["bytes"] <= row["limit_bytes"],
        )
    cold = results.get("cold_start")
    if cold:
        for row in cold["rows"]:
            target(
                f"cold start {row['function']}",
                f"x{row['ratio']:.2f} ({row['cold_s'] * 1000:.0f} ms)",
                "<= x1.5 bare",
                row["ratio"] <= 1.5,
            )
        for row in cold["rows"]:
            target(
                f"unzipped {row['function']}",
                f"{row['unzipped_bytes'] / 1e6:.1f} MB",
                "<= 250 MB",
                row["unzipped_bytes"] <= cold["limit_bytes"],
            )
    load = results.get("throughput")
    if load:
        target(
            "concurrent uploads validated", f"{load['ready']}/{load['users']}", "all", load["ready"] == load["users"]
        )
        for mode, row in load["clips"].items():
            target(
                f"concurrent {mode} clips ready", f"{row['ready']}/{row['clips']}", "all", row["ready"] == row["clips"]
            )
    target("bench wall time", f"{results['wall_s'] / 60:.1f} min", "< 15 min", results["wall_s"] < 900)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    width = max(len(r["target"]) for r in rows)
    print(f"\n{'target':<{width}}  {'measured':<24} {'goal':<28} result")
    for r in rows:
        print(f"{r['target']:<{width}}  {r['measured']:<24} {r['goal']:<28} {'met' if r['met'] else 'MISSED'}")


def chart(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no chart (pip install -r bench/requirements.txt)")
        return False
    rows = results["clips"]["rows"]
    fig, (left, right, third) = plt.subplots(1, 3, figsize=(16, 4.2))
    for mode, style in (("fast", "o"), ("accurate", "s")):
        for side, color in (("ours", "tab:blue"), ("naive", "tab:red")):
            series = [r for r in rows if r["mode"] == mode]
            minutes = [r["minutes"] for r in series]
            line = "-" if mode == "fast" else "--"
            label = f"{side}, {mode}"
            left.plot(minutes, [r[side]["wall_s"] for r in series], line, marker=style, color=color, label=label)
            right.plot(minutes, [r[side]["bytes"] / 1e6 for r in series], line, marker=style, color=color, label=label)
    left.set(title="10 s clip: wall time (loopback)", xlabel="source length (min, 720p)", ylabel="seconds")
    right.set(title="10 s clip: bytes read from S3", xlabel="source length (min, 720p)", ylabel="MB", yscale="log")
    lengths = results.get("lengths", {}).get("rows", [])
    for kind, label, style in (
        ("fast", "fast (stream copy)", "o-"),
        ("smart", "accurate, smart cut", "s-"),
        ("full", "accurate, full re-encode", "s--"),
    ):
        third.plot([r["length_s"] for r in lengths], [r[kind]["wall_s"] for r in lengths], style, label=label)
    third.set(
        title="accurate clip time vs clip length (S3-like link)",
        xlabel="clip length (s), 30-min source",
        ylabel="seconds",
    )
    for axis in (left, right, third):
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle(f"Practika clips: ours (range reads) vs naive (download then cut) — {results['date']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--users", type=int, default=int(os.environ.get("BENCH_USERS", "20")), help="concurrent uploads (default 20)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each of our measurements (median)")
    parser.add_argument("--skip", action="append", default=[], choices=["cold", "load"], help="skip a section")
    parser.add_argument(
        "--first-byte-ms",
        type=float,
        default=FIRST_BYTE_MS,
        help=f"S3-like link: time to first byte of every request (default {FIRST_BYTE_MS:g})",
    )
    parser.add_argument(
        "--connection-mb-s",
        type=float,
        default=CONNECTION_MB_S,
        help=f"S3-like link: MB/s of one connection (default {CONNECTION_MB_S:g})",
    )
    parser.add_argument(
        "--function-mb-s",
        type=float,
        default=FUNCTION_MB_S,
        help=f"S3-like link: MB/s of all of a function's connections, 0 for no limit (default {FUNCTION_MB_S:g})",
    )
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="The HMAC key")  # the documented local JWT secret is short
    began = time.perf_counter()
    RESULTS.mkdir(parents=True, exist_ok=True)

    from bench import sources
    from bench.proxy import CountingProxy, Link

    log("== sources (cached in .cache/bench/)")
    for minutes in sources.MINUTES:
        path = sources.source(minutes)
        log(f"  {minutes:2} min 720p: {path.stat().st_size / 1e6:.1f} MB, moov {sources.moov_size(path) / 1e3:.0f} KB")

    from devstack.launcher import start_stack

    log("== local stack")
    stack = start_stack(ROOT / ".local" / "bench", timeout_s=120)
    results: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine()}
    proxy = CountingProxy(stack.description["aws_endpoint_url"]).start()
    link = Link(
        first_byte_s=args.first_byte_ms / 1000,
        bytes_per_s=args.connection_mb_s * 1e6,
        function_bytes_per_s=args.function_mb_s * 1e6 or None,
    )
    s3_like = CountingProxy(stack.description["aws_endpoint_url"], link).start()
    try:
        _environment(proxy.url)
        import boto3

        from bench import media

        s3 = boto3.client("s3", endpoint_url=stack.description["aws_endpoint_url"], region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        placed = media.put_sources(s3, BUCKET)
        log(f"  API {stack.api_url}; S3 {stack.description['aws_endpoint_url']} behind the counting proxy {proxy.url}")
        log("== 1. clip cost against source length (loopback)")
        results["clips"] = media.clip_section(proxy, BUCKET, placed, args.repeats, log)
        log(f"== 1b. the same on an S3-like link: {link.describe()}")
        link_facts = {
            "first_byte_ms": args.first_byte_ms,
            "connection_mb_s": args.connection_mb_s,
            "function_mb_s": args.function_mb_s,
        }
        linked = media.clip_section(s3_like, BUCKET, placed, args.repeats, log)
        results["clips_s3_like"] = {"link": link_facts, **linked}
        longest = placed[max(placed)]
        log(f"== 1c. accurate clips against clip length, {longest['minutes']}-min source, S3-like link")
        results["lengths"] = media.length_section(s3_like, longest, args.repeats, log)
        log("== 2. validation cost against file size")
        results["validation"] = media.validation_section(proxy, BUCKET, placed, args.repeats, log)
        if "load" not in args.skip:
            log(f"== 4. throughput: {args.users} concurrent users")
            from bench.throughput import throughput_section

            results["throughput"] = throughput_section(stack, args.users, log)
    finally:
        proxy.stop()
        s3_like.stop()
        stack.stop()
    memory = {"ValidateFunction": 1024, "ClipWorkerFunction": 2048}
    if "cold" not in args.skip:
        log("== 3. cold start and package size")
        from bench.coldstart import cold_start_section

        # Single cold starts on this shared VM vary by +-30% from one second to the next: more rounds.
        results["cold_start"] = cold_start_section(max(COLD_START_ROUNDS, args.repeats), log)
        memory = {row["function"]: row["memory_mb"] for row in results["cold_start"]["rows"]}
    log("== 5. cost")
    results["cost"] = cost_section(results["clips"], results["validation"], memory)
    for row in results["cost"]["per_validated_video"]:
        log(
            f"  validation, {row['minutes']:2}-min video: {row['duration_s']:.2f}s at {row['memory_mb']} MB "
            f"= ${row['usd']:.7f} per video (${row['usd'] * 1e6:,.0f} per million)"
        )
    for row in results["cost"]["per_clip_minute"]:
        if row["minutes"] == max(sources.MINUTES):
            log(
                f"  {row['path']:5} {row['mode']:8} clip from {row['minutes']}-min source: "
                f"${row['usd_per_clip_minute']:.6f} per clip minute at {row['memory_mb']} MB"
            )
    results["wall_s"] = time.perf_counter() - began
    results["targets"] = targets(results)
    print_table(results["targets"])
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    drawn = chart(results, RESULTS / "clips.png")
    log(f"\nwrote {RESULTS / 'latest.json'}" + (f" and {RESULTS / 'clips.png'}" if drawn else ""))
    log(f"bench took {results['wall_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
