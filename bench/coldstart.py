"""Section 3: cold start of every handler against a bare Powertools hello world, and package sizes.

Each measurement is a fresh Lambda-like environment of the local stack's runtime (a new Python
process that imports the handler, then serves one event from events/), timed from spawn to the
answer: init plus first call, what Lambda bills on a cold start. AWS is a moto server with the
template's resources, so every handler really talks to DynamoDB, S3, SQS or Secrets Manager.
"""

import hashlib
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from devstack.__main__ import _configure_chat
from devstack.chatsink import ChatSink
from devstack.launcher import free_port
from devstack.resources import FunctionSpec, create_stack
from devstack.runtime import FunctionRuntime
from devstack.template import ROOT

EVENTS = {
    "HealthFunction": "api-health.json",
    "UploadApiFunction": "api-post-videos.json",
    "ValidateFunction": "sqs-s3-object-created.json",
    "ClipApiFunction": "api-post-clip.json",
    "ClipWorkerFunction": "sqs-clip-job.json",
    "AlarmRouterFunction": "sns-alarm.json",
}
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024

# The Powertools hello world (as `sam init` generates it): logger, tracer, metrics, a resolver, one route.
BARE_HANDLER = """
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

app = APIGatewayHttpResolver()
tracer = Tracer()
logger = Logger()
metrics = Metrics(namespace="Bench")


@app.get("/health")
@tracer.capture_method
def hello():
    metrics.add_metric(name="HelloWorldInvocations", unit=MetricUnit.Count, value=1)
    logger.info("hello world API - HTTP 200")
    return {"message": "hello world"}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def handler(event, context):
    return app.resolve(event, context)
"""


def _event(name: str) -> Any:
    return json.loads((ROOT / "events" / name).read_text())


def _child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cold_once(spec: FunctionSpec, base_env: dict[str, str], log_dir: Path, event: Any) -> dict[str, Any]:
    """One fresh environment: spawn, import, first event (wall and the process's CPU), then one warm call."""
    runtime = FunctionRuntime(spec, base_env, log_dir, 1)
    cpu_before = _child_cpu_s()
    try:
        started = time.perf_counter()
        first = runtime.invoke(event)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        runtime.invoke(event)
        warm = time.perf_counter() - started
    finally:
        runtime.close()  # waits for the process, so its CPU time is counted below
    return {"cold_s": cold, "warm_s": warm, "cpu_s": _child_cpu_s() - cpu_before, "ok": first.ok}


def _summary(runs: list[dict[str, Any]], memory_mb: int) -> dict[str, Any]:
    return {
        "cold_s": statistics.median(r["cold_s"] for r in runs),
        "cold_s_runs": [round(r["cold_s"], 3) for r in runs],
        "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "warm_s": statistics.median(r["warm_s"] for r in runs),
        "ok": all(r["ok"] for r in runs),
        "memory_mb": memory_mb,
    }


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def shared_layer_bytes(log: Any) -> dict[str, int]:
    """layers/shared/requirements.txt installed with pip --target (cached by its hash), plus practika."""
    requirements = ROOT / "layers" / "shared" / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    target = ROOT / ".cache" / "bench" / f"shared-layer-{digest}"
    if not (target / ".done").exists():
        log("  installing the shared layer's requirements into a temporary target (once)")
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(target),
                "-r",
                str(requirements),
            ],
            check=True,
        )
        (target / ".done").touch()
    return {"dependencies": _tree_bytes(target), "practika": _tree_bytes(ROOT / "layers" / "shared" / "practika")}


def cold_start_section(repeats: int, log: Any) -> dict[str, Any]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    region = "us-east-1"
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    sink: ChatSink | None = None
    try:
        session = boto3.session.Session(region_name=region, aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106 - moto's fake keys
        stack = create_stack(session, endpoint, {})
        sink = ChatSink("127.0.0.1", 0, work / "chat.jsonl")
        sink.start()
        _configure_chat(stack, session, endpoint, sink.url)  # the router posts to a local chat sink
        base_env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108
            "LANG": "C.UTF-8",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "MEDIA_ALLOW_HTTP": "1",
        }
        bare_dir = work / "hello"
        bare_dir.mkdir()
        (bare_dir / "app.py").write_text(BARE_HANDLER)
        bare = FunctionSpec(
            logical_id="BareHelloWorld",
            name="bench-hello",
            code_dir=bare_dir,
            handler="app.handler",
            timeout_s=30,
            memory_mb=128,
            environment={"POWERTOOLS_SERVICE_NAME": "hello"},
            events={},
            region=region,
        )
        # Interleaved rounds (bare, then every handler), so load from anything else on the machine
        # hits both sides alike; medians over the rounds.
        specs = {"BareHelloWorld": (bare, "api-health.json")}
        specs.update({lid: (stack.functions[lid], name) for lid, name in EVENTS.items()})
        runs: dict[str, list[dict[str, Any]]] = {lid: [] for lid in specs}
        for _ in range(repeats):
            for lid, (spec, event_name) in specs.items():
                runs[lid].append(_cold_once(spec, base_env, work, _event(event_name)))
        baseline = _summary(runs["BareHelloWorld"], bare.memory_mb)
        log(
            f"  cold start bare Powertools hello world: {baseline['cold_s'] * 1000:.0f} ms "
            f"(cpu {baseline['cpu_s'] * 1000:.0f} ms)"
        )
        layer = shared_layer_bytes(log)
        ffmpeg_bytes = _tree_bytes(ROOT / ".cache" / "ffmpeg" / "bin")
        rows = []
        for logical_id, event_name in EVENTS.items():
            spec = stack.functions[logical_id]
            measured = _summary(runs[logical_id], spec.memory_mb)
            layers = json.dumps(stack.template["Resources"][logical_id]["Properties"].get("Layers") or [])
            sizes = {
                "function": _tree_bytes(spec.code_dir),
                "shared_layer": layer["dependencies"] + layer["practika"],
                "ffmpeg_layer": ffmpeg_bytes if "FfmpegLayer" in layers else 0,
            }
            total = sum(sizes.values())
            # The same round's bare run against this handler's: how far this shared machine moves
            # the ratio from one round to the next (the target is judged on the medians).
            pairs = zip(runs[logical_id], runs["BareHelloWorld"], strict=True)
            round_ratios = sorted(ours["cold_s"] / bare["cold_s"] for ours, bare in pairs)
            rows.append(
                {
                    "function": logical_id,
                    "event": event_name,
                    **measured,
                    "ratio": measured["cold_s"] / baseline["cold_s"],
                    "cpu_ratio": measured["cpu_s"] / baseline["cpu_s"],
                    "round_ratios": [round(r, 2) for r in round_ratios],
                    "sizes": sizes,
                    "unzipped_bytes": total,
                    "timeout_s": spec.timeout_s,
                }
            )
            log(
                f"  cold start {logical_id:20} {measured['cold_s'] * 1000:5.0f} ms (x{rows[-1]['ratio']:.2f}; "
                f"cpu {measured['cpu_s'] * 1000:.0f} ms x{rows[-1]['cpu_ratio']:.2f}; rounds "
                f"x{round_ratios[0]:.2f}-x{round_ratios[-1]:.2f}), warm "
                f"{measured['warm_s'] * 1000:4.0f} ms, ok={measured['ok']}, {total / 1e6:.1f} MB unzipped"
            )
        return {
            "baseline": baseline,
            "rows": rows,
            "shared_layer": layer,
            "ffmpeg_layer_bytes": ffmpeg_bytes,
            "limit_bytes": LAMBDA_UNZIPPED_LIMIT,
            "repeats": repeats,
        }
    finally:
        if sink is not None:
            sink.stop()
        moto.stop()
        shutil.rmtree(work, ignore_errors=True)
