"""DynamoDB stream event source mappings with Lambda's semantics, over moto's stream API.

Records of each shard in order from the start of the stream (the stack is new), in batches of
the template's BatchSize; a batch the function fails is retried (from the first failed record
when it answers with batchItemFailures, as ReportBatchItemFailures does) until it passes, so
nothing after it is handed over first.
"""

import base64
import threading
from datetime import datetime
from typing import Any

from devstack.runtime import FunctionRuntime

RETRY_DELAY_S = 1.0


def _plain(value: Any) -> Any:
    """A record as Lambda hands it over (JSON): times as epoch seconds, binary as base64."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


class StreamPoller:
    def __init__(
        self, streams: Any, stream_arn: str, region: str, runtime: FunctionRuntime, batch_size: int, log: Any
    ) -> None:
        self.streams = streams
        self.stream_arn = stream_arn
        self.region = region
        self.runtime = runtime
        self.batch_size = batch_size
        self.log = log
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"stream-{runtime.spec.logical_id}")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        # The last sequence number handed over per shard. Each poll asks for a fresh iterator after it:
        # moto restores a table from a deep copy when a transaction is cancelled, which leaves an old
        # iterator reading a shard that no longer grows.
        done: dict[str, str | None] = {}
        while not self._stop.is_set():
            busy = False
            try:
                shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
                for shard in shards:
                    shard_id = shard["ShardId"]
                    after = done.get(shard_id)
                    where = (
                        {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
                        if after
                        else {"ShardIteratorType": "TRIM_HORIZON"}
                    )
                    iterator = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **where)
                    records = self.streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=self.batch_size)
                    if records.get("Records"):
                        busy = True
                        self._deliver(records["Records"])
                        done[shard_id] = records["Records"][-1]["dynamodb"]["SequenceNumber"]
            except Exception as error:  # noqa: BLE001 - the poller outlives a failed poll, as Lambda's does
                self.log(f"stream poll failed for {self.runtime.spec.logical_id}: {error}")
            if not busy:
                self._stop.wait(0.2)

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        pending = [{**_plain(r), "eventSourceARN": self.stream_arn, "awsRegion": self.region} for r in records]
        while pending and not self._stop.is_set():
            result = self.runtime.invoke({"Records": pending})
            if result.ok:
                failed = [f.get("itemIdentifier") for f in (result.payload or {}).get("batchItemFailures") or []]
                if not failed:
                    return
                numbers = [r["dynamodb"]["SequenceNumber"] for r in pending]
                first = min((numbers.index(n) for n in failed if n in numbers), default=0)
                pending = pending[first:]
                self.log(f"{self.runtime.spec.logical_id} failed stream records from {numbers[first]}; retrying")
            else:
                self.log(f"{self.runtime.spec.logical_id} failed a stream batch of {len(pending)}: {result.error}")
            self._stop.wait(RETRY_DELAY_S)
