"""The stack's own endpoint: SNS HTTP deliveries become async Lambda invocations, and
`POST /invoke/<LogicalId>` runs one function with an event (what `make invoke` uses)."""

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from devstack.events import on_failure_record, sns_event
from devstack.faults import FaultBook
from devstack.httpserver import BackgroundServer, QuietHandler
from devstack.runtime import FunctionRuntime


class ControlServer(BackgroundServer):
    def __init__(
        self,
        host: str,
        port: int,
        runtimes: dict[str, FunctionRuntime],
        send_to_queue: Callable[[str, str, dict[str, str]], None],
        retry_delays_s: tuple[float, ...],
        log: Any,
        faults: FaultBook | None = None,
    ) -> None:
        self.runtimes = runtimes
        self.send_to_queue = send_to_queue
        self.retry_delays_s = retry_delays_s
        self.log = log
        self.subscription_arns: dict[str, str] = {}
        self.faults = faults
        control = self

        class Handler(QuietHandler):
            def _answer(self, status: int, body: Any) -> None:
                self.answer(status, json.dumps(body, default=str).encode(), {"content-type": "application/json"})

            def do_GET(self) -> None:
                if self.path == "/faults" and control.faults is not None:
                    self._answer(200, control.faults.rules())
                else:
                    self._answer(404, {"error": "unknown path"})

            def do_POST(self) -> None:
                raw = self.body()
                if self.path == "/faults" and control.faults is not None:
                    # Replace every worker's fault rules (docs/FAULTS.md); [] turns faults off.
                    control.faults.write(json.loads(raw or b"[]"))
                    self._answer(200, control.faults.rules())
                    return
                parts = self.path.strip("/").split("/")
                if len(parts) != 2 or parts[1] not in control.runtimes:
                    self._answer(404, {"error": "unknown function"})
                    return
                kind, function = parts
                if kind == "invoke":
                    result = control.runtimes[function].invoke(json.loads(raw or b"{}"))
                    self._answer(
                        200, {"ok": result.ok, "payload": result.payload, "duration_ms": round(result.duration_ms, 1)}
                    )
                elif kind == "sns":
                    # SNS only waits for the HTTP answer; the function runs asynchronously.
                    notification = json.loads(raw)
                    threading.Thread(target=control.deliver_async, args=(function, notification), daemon=True).start()
                    self._answer(200, {"ok": True})
                else:
                    self._answer(404, {"error": "unknown path"})

        super().__init__(host, port, Handler, name="control")

    def deliver_async(self, function: str, notification: dict[str, Any]) -> None:
        """Lambda's async invocation: the first try plus MaximumRetryAttempts, then the on-failure destination."""
        runtime = self.runtimes[function]
        event = sns_event(notification, self.subscription_arns.get(function, ""))
        attempts = 1 + runtime.spec.max_retry_attempts
        for attempt in range(1, attempts + 1):
            result = runtime.invoke(event)
            if result.ok:
                return
            self.log(f"{function} failed async attempt {attempt}/{attempts}: {result.error}")
            if attempt < attempts:
                time.sleep(self.retry_delays_s[min(attempt - 1, len(self.retry_delays_s) - 1)])
        if runtime.spec.on_failure_arn:
            record = on_failure_record(event, runtime.spec.arn, attempts, result.error or {})
            self.send_to_queue(runtime.spec.on_failure_arn, json.dumps(record), runtime.spec.credentials)
