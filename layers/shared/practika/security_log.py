"""Security events, copied from each function's log group into the security log group (kept 90 days).

CloudWatch Logs subscription filters on the function log groups select the lines carrying a
`security_event` key and deliver them here; a subscription cannot write to another log group
itself. Streams are named by day and source so an investigation can read one function's events.
"""

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from practika import aws
from practika.observability import tracer
from practika.settings import security_log_settings

# PutLogEvents takes at most 10,000 events and 1 MiB a call; subscription deliveries are far smaller,
# but a burst (quota abuse) must not fail the whole delivery.
MAX_EVENTS_PER_CALL = 1000
MAX_BYTES_PER_CALL = 900_000


@dataclass(frozen=True)
class LogLine:
    timestamp_ms: int
    message: str


def stream_name(source_log_group: str, timestamp_ms: int) -> str:
    day = datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%Y/%m/%d")
    return f"{day}/{source_log_group.strip('/').replace('/', '-')}"


def batches(lines: list[LogLine]) -> Iterable[list[LogLine]]:
    batch: list[LogLine] = []
    size = 0
    for line in lines:
        # 26 bytes of overhead per event, as CloudWatch Logs counts it.
        line_size = len(line.message.encode()) + 26
        if batch and (len(batch) >= MAX_EVENTS_PER_CALL or size + line_size > MAX_BYTES_PER_CALL):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += line_size
    if batch:
        yield batch


@tracer.capture_method
def forward(source_log_group: str, lines: list[LogLine]) -> int:
    """Write `lines` to the security log group; returns how many were written."""
    logs = aws.client("logs")
    group = security_log_settings().security_log_group
    by_stream: dict[str, list[LogLine]] = {}
    for line in sorted(lines, key=lambda item: item.timestamp_ms):
        by_stream.setdefault(stream_name(source_log_group, line.timestamp_ms), []).append(line)
    for stream, stream_lines in by_stream.items():
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        for batch in batches(stream_lines):
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": line.timestamp_ms, "message": line.message} for line in batch],
            )
    return len(lines)
