"""SQS event source mappings with Lambda's semantics.

Batch size from the template; a message is deleted only when its record succeeded (partial batch
responses); a failed or timed-out batch stays on the queue, reappears after the visibility
timeout, and moto's redrive moves it to the DLQ after maxReceiveCount receives.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devstack.events import sqs_event
from devstack.runtime import FunctionRuntime


class QueuePoller:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        runtime: FunctionRuntime,
        batch_size: int,
        concurrency: int,
        log: Any,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.runtime = runtime
        self.batch_size = batch_size
        self.log = log
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"poll-{runtime.spec.logical_id}")
        self._free = threading.Semaphore(concurrency)
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"poller-{runtime.spec.logical_id}")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._free.acquire(timeout=0.5):
                continue
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as error:  # noqa: BLE001 - the poller outlives a failed poll, as Lambda's does
                self.log(f"poll failed for {self.runtime.spec.logical_id}: {error}")
                messages = []
            if not messages:
                self._free.release()
                self._stop.wait(0.2)
                continue
            self._pool.submit(self._deliver, messages)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        try:
            result = self.runtime.invoke(sqs_event(messages, self.queue_arn, self.region))
            if not result.ok:
                self.log(f"{self.runtime.spec.logical_id} failed a batch of {len(messages)}: {result.error}")
                return
            failed = {item.get("itemIdentifier") for item in ((result.payload or {}).get("batchItemFailures") or [])}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
        except Exception as error:  # noqa: BLE001 - never lose the poller thread
            self.log(f"delivery to {self.runtime.spec.logical_id} failed: {error}")
        finally:
            self._free.release()
