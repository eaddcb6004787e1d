"""One Lambda execution environment: imports a handler once, then serves invocations.

Started by devstack.runtime with the function's environment. Requests arrive as JSON lines on
stdin; answers go out as JSON lines on the original stdout, which is then pointed at stderr so
whatever the function prints (logs, EMF metrics) lands in the function's log file instead.
"""

import importlib.util
import json
import os
import sys
import time
import traceback
from typing import Any

from devstack import faults


class LambdaContext:
    """The context object Lambda passes: names, memory and a remaining time that counts down."""

    def __init__(self, request_id: str, deadline: float) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.invoked_function_arn = os.environ["DEVSTACK_FUNCTION_ARN"]
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "devstack"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _load_handler(code_dir: str, handler: str) -> Any:
    module_name, function_name = handler.rsplit(".", 1)
    sys.path.insert(0, code_dir)  # Lambda puts the function's code first on the path (/var/task)
    spec = importlib.util.spec_from_file_location(module_name, os.path.join(code_dir, module_name + ".py"))
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {handler} from {code_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return getattr(module, function_name)


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    faults.install_from_env()  # before the handler creates any boto3 client
    handler = _load_handler(os.environ["DEVSTACK_CODE_DIR"], os.environ["DEVSTACK_HANDLER"])
    for line in sys.stdin:
        request = json.loads(line)
        context = LambdaContext(request["request_id"], request["deadline"])
        try:
            result = handler(request["event"], context)
            answer: dict[str, Any] = {"ok": True, "result": result}
        except Exception as error:  # noqa: BLE001 - reported to the caller as Lambda reports a function error
            traceback.print_exc()
            answer = {
                "ok": False,
                "error": {
                    "errorType": type(error).__name__,
                    "errorMessage": str(error),
                    "stackTrace": traceback.format_exception(error)[-5:],
                },
            }
        sys.stdout.flush()
        answers.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()
