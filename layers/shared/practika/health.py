"""Health of the parts the pipeline cannot work without: the table and the uploads bucket.

Both checks run in parallel, each on a short-timeout client, so the answer comes within a
second even when a dependency hangs.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from practika import __version__, aws, clock
from practika.observability import MetricName, logger, metrics, tracer
from practika.settings import storage_settings

CHECK_TIMEOUT_S = 0.8
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="health")


class PartHealth(BaseModel):
    status: Literal["ok", "error"]
    latency_ms: float
    error: str | None = None


class HealthReport(BaseModel):
    status: Literal["healthy", "unhealthy"]
    timestamp: str
    version: str
    database: PartHealth
    storage: PartHealth


def _timed(check: str) -> PartHealth:
    started = time.perf_counter()
    try:
        if check == "database":
            table = storage_settings().table_name
            aws.client("dynamodb", timeout_s=CHECK_TIMEOUT_S).describe_table(TableName=table)
        else:
            bucket = storage_settings().uploads_bucket
            aws.client("s3", timeout_s=CHECK_TIMEOUT_S).head_bucket(Bucket=bucket)
        error = None
    except ClientError as failure:
        error = aws.error_code(failure) or "client_error"
    except BotoCoreError as failure:
        error = type(failure).__name__
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    return PartHealth(status="ok" if error is None else "error", latency_ms=latency_ms, error=error)


@tracer.capture_method
def check_health() -> HealthReport:
    futures = {part: _pool.submit(_timed, part) for part in ("database", "storage")}
    parts: dict[str, PartHealth] = {}
    for part, future in futures.items():
        try:
            parts[part] = future.result(timeout=CHECK_TIMEOUT_S + 0.1)
        except FutureTimeout:
            parts[part] = PartHealth(status="error", latency_ms=CHECK_TIMEOUT_S * 1000, error="timeout")
    healthy = all(p.status == "ok" for p in parts.values())
    for part, result in parts.items():
        tracer.put_annotation(key=f"{part}_ok", value=result.status == "ok")
        metrics.add_metric(name=MetricName.HEALTH_CHECKS, unit="Count", value=1)
        if result.status != "ok":
            metrics.add_metric(name=MetricName.HEALTH_CHECK_FAILURES, unit="Count", value=1)
            logger.warning("health check failed", part=part, error=result.error)
    return HealthReport(
        status="healthy" if healthy else "unhealthy",
        timestamp=clock.iso_millis(),
        version=__version__,
        database=parts["database"],
        storage=parts["storage"],
    )
