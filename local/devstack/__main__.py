"""`python -m devstack`: run the whole pipeline on this machine until Ctrl-C / SIGINT / SIGTERM.

moto's server is AWS; template.yaml's resources are created in it; the real handlers run in
Lambda-like worker processes; the HTTP API, SQS pollers, SNS deliveries and a chat sink are
wired as the template wires them. When ready, `.local/stack.json` says where everything is.
"""

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from devstack.api import ApiServer, cors_from_template, routes_from_template
from devstack.chatsink import ChatSink
from devstack.control import ControlServer
from devstack.faults import FILE_ENV, FaultBook, write_shims
from devstack.iam import ROOT_ACCESS_KEY, enforce, grant_roles, load_managed_policies
from devstack.moto_patches import (
    enforce_copy_source_if_match,
    enforce_signed_part_length,
    no_such_upload,
    read_ranges_only,
    s3_cors_as_aws,
    serialize_dynamodb,
)
from devstack.queues import QueuePoller
from devstack.resources import create_stack
from devstack.runtime import FFMPEG_BIN, FunctionRuntime
from devstack.streams import StreamPoller
from devstack.template import ROOT
from devstack.web import WebServer

HOST = "127.0.0.1"
LOCAL_CHAT = ROOT / "local" / "chat.json"
# The local webhook signing secret (docs/WEBHOOKS.md); a receiver under test verifies with it.
DEFAULT_WEBHOOK_SECRET = "whsec_cHJhY3Rpa2EtbG9jYWwtd2ViaG9vay1zZWNyZXQhIQ=="  # noqa: S105 - local only


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--param wants Key=Value, got {pair!r}")
        params[key] = value
    return params


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument(
        "--web-port",
        type=int,
        default=int(os.environ.get("WEB_PORT", "3001")),
        help="port of the reference upload page (0: any free port)",
    )
    parser.add_argument(
        "--aws-port",
        type=int,
        default=int(os.environ.get("AWS_PORT", "0")),
        help="port of the moto server (default: any free port)",
    )
    parser.add_argument("--state-dir", default=os.environ.get("LOCAL_STATE_DIR", str(ROOT / ".local")))
    parser.add_argument(
        "--param",
        action="append",
        default=os.environ.get("LOCAL_PARAMS", "").split(),
        help="template parameter override Key=Value (repeatable; env LOCAL_PARAMS)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=int(os.environ.get("LOCAL_CONCURRENCY", "2")),
        help="warm environments per function",
    )
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        default=int(os.environ["LOCAL_VISIBILITY_TIMEOUT_S"]) if os.environ.get("LOCAL_VISIBILITY_TIMEOUT_S") else None,
        help="override every queue's visibility timeout (seconds), e.g. to see redrives quickly",
    )
    parser.add_argument(
        "--timeout",
        action="append",
        default=os.environ.get("LOCAL_FUNCTION_TIMEOUTS", "").split(),
        help="function timeout override LogicalId=seconds (repeatable; env LOCAL_FUNCTION_TIMEOUTS), "
        "e.g. to watch the alarm router exhaust its retries in seconds instead of minutes",
    )
    args = parser.parse_args(argv)

    state_dir = Path(args.state_dir)
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    stack_file = state_dir / "stack.json"
    stack_file.unlink(missing_ok=True)
    stack_log = (state_dir / "logs" / "devstack.log").open("a", buffering=1)

    def log(message: str) -> None:
        stack_log.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    aws_port = args.aws_port or _free_port()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    serialize_dynamodb()  # moto's DynamoDB is not thread-safe; its threaded server is
    read_ranges_only()  # S3 serves a range without reading the whole object; moto did not
    s3_cors_as_aws()  # browsers get S3's CORS answers from the buckets' rules, not moto's allow-all
    no_such_upload()  # completing an aborted multipart upload answers NoSuchUpload; moto failed with 500
    load_managed_policies()  # the roles attach AWS managed policies, as SAM's translation does
    enforce_copy_source_if_match()  # S3 refuses a conditional copy of a changed source; moto copied it
    moto = ThreadedMotoServer(ip_address=HOST, port=aws_port, verbose=False)
    moto.start()
    endpoint = f"http://{HOST}:{aws_port}"
    # The account root's key: the stack itself, its pollers and the tests; functions get their role.
    session = boto3.session.Session(
        region_name=region, aws_access_key_id=ROOT_ACCESS_KEY, aws_secret_access_key=ROOT_ACCESS_KEY
    )
    # S3 refuses a part whose size is not the one its URL signed; moto checks no signature.
    enforce_signed_part_length({ROOT_ACCESS_KEY: ROOT_ACCESS_KEY})

    # The page's origin is the one the template's CORS rules allow locally, unless told otherwise.
    web = WebServer(HOST, args.web_port)
    stack = create_stack(
        session,
        endpoint,
        _parse_params(args.param),
        args.visibility_timeout,
        local_defaults={"CorsAllowedOrigins": web.origin},
    )
    grant_roles(session, endpoint, stack)
    enforce()  # from here on a call a function's role does not allow fails, as on AWS (devstack.iam)
    sink = ChatSink(HOST, int(os.environ.get("CHAT_SINK_PORT", "0")), state_dir / "chat.jsonl")
    sink.start()
    _configure_chat(stack, session, endpoint, sink.url)
    webhook_sink = ChatSink(HOST, int(os.environ.get("WEBHOOK_SINK_PORT", "0")), state_dir / "webhooks.jsonl")
    webhook_sink.start()
    _configure_webhooks(stack, session, endpoint, webhook_sink.url)

    base_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - only a fallback for HOME
        "LANG": "C.UTF-8",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "POWERTOOLS_TRACE_DISABLED": "1",  # no X-Ray daemon on a laptop
        "POWERTOOLS_DEV": os.environ.get("POWERTOOLS_DEV", "0"),
        "MEDIA_ALLOW_HTTP": "1",  # moto serves plain http; in AWS presigned URLs are https only
    }
    # Fault injection (docs/FAULTS.md): rules in a file every worker reads; tool shims on request.
    faults = FaultBook(state_dir / "faults.json")
    faults.write(json.loads(os.environ.get("DEVSTACK_FAULTS") or "[]"))
    base_env[FILE_ENV] = str(faults.path)
    if os.environ.get("DEVSTACK_FAULT_SHIMS") == "1" or "tool" in os.environ.get("DEVSTACK_FAULTS", ""):
        base_env["DEVSTACK_SHIM_DIR"] = str(write_shims(state_dir / "shims", FFMPEG_BIN))
    for logical_id, seconds in _parse_params(args.timeout).items():
        stack.functions[logical_id].timeout_s = int(seconds)
    runtimes = {
        lid: FunctionRuntime(spec, base_env, state_dir / "logs", args.concurrency)
        for lid, spec in stack.functions.items()
    }

    arn_to_url = {arn: stack.queue_urls[lid] for lid, arn in stack.queue_arns.items()}

    def send_to_queue(queue_arn: str, body: str, credentials: dict[str, str]) -> None:
        # Lambda sends to an on-failure destination with the function's role (SAM adds that policy).
        sqs = boto3.client(
            "sqs", endpoint_url=endpoint, region_name=region, **{k.lower(): v for k, v in credentials.items()}
        )
        sqs.send_message(QueueUrl=arn_to_url[queue_arn], MessageBody=body)

    control = ControlServer(
        HOST,
        int(os.environ.get("CONTROL_PORT", "0")),
        runtimes,
        send_to_queue,
        retry_delays_s=(1.0, 2.0),
        log=log,
        faults=faults,
    )
    control.start()
    _subscribe_functions(stack, session, endpoint, control)
    pollers = _start_pollers(stack, endpoint, runtimes, args.concurrency, region, log)
    streams = _start_stream_pollers(
        stack, session.client("dynamodbstreams", endpoint_url=endpoint), runtimes, region, log
    )

    api = ApiServer(
        HOST,
        args.port,
        routes_from_template(stack.template),
        runtimes,
        cors_from_template(stack.template, stack.resolver.resolve),
    )
    api.start()
    web.api_url = api.url
    web.start()

    description = {
        "api_url": api.url,
        "aws_endpoint_url": endpoint,
        "region": region,
        "resources": stack.resources,
        "chat_sink_url": sink.url,
        "chat_log": str(sink.log_path),
        "webhook_sink_url": webhook_sink.url,
        "webhook_log": str(webhook_sink.log_path),
        "control_url": control.url,
        "logs_dir": str(state_dir / "logs"),
        "parameters": stack.resolver.parameters,
        "web_url": web.url,
        # Each function's role and session, to check from outside what a role may do (devstack.iam).
        "function_roles": {
            lid: {"role_arn": spec.role_arn, **spec.credentials} for lid, spec in stack.functions.items()
        },
    }
    tmp = stack_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(description, indent=2))
    tmp.replace(stack_file)
    print(f"local stack ready: API {api.url}, AWS {endpoint}, chat sink {sink.url}", flush=True)
    print(f"  upload page {web.url}", flush=True)
    print(f"  details in {stack_file}; logs in {state_dir / 'logs'}; Ctrl-C stops", flush=True)

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    stopping.wait()
    print("stopping local stack", flush=True)
    stack_file.unlink(missing_ok=True)
    api.stop()
    web.stop()
    for poller in pollers:
        poller.stop()
    for stream in streams:
        stream.stop()
    for runtime in runtimes.values():
        runtime.close()
    control.stop()
    sink.stop()
    webhook_sink.stop()
    moto.stop()
    sys.exit(0)


def _configure_chat(stack: Any, session: boto3.session.Session, endpoint: str, sink_url: str) -> None:
    """Point the router's destinations at the chat sink (local/chat.json), as deploys put real URLs there."""
    if not LOCAL_CHAT.exists():
        return
    config = json.loads(LOCAL_CHAT.read_text())
    webhooks = {name: sink_url + path for name, path in config.get("webhooks", {}).items()}
    # The secret the router reads (the template has other secrets too, e.g. WebhookSigningSecret).
    secret = next(
        (
            spec.environment["CHAT_WEBHOOKS_SECRET"]
            for spec in stack.functions.values()
            if "CHAT_WEBHOOKS_SECRET" in spec.environment
        ),
        None,
    )
    if secret:
        session.client("secretsmanager", endpoint_url=endpoint).put_secret_value(
            SecretId=secret, SecretString=json.dumps(webhooks)
        )
    if "routes" in config:
        for spec in stack.functions.values():
            if "CHAT_ROUTES" in spec.environment:
                spec.environment["CHAT_ROUTES"] = json.dumps(config["routes"])


def _configure_webhooks(stack: Any, session: boto3.session.Session, endpoint: str, sink_url: str) -> None:
    """The app's webhook endpoint is the local sink (unless WebhookUrl is given); the signing secret is
    LOCAL_WEBHOOK_SECRET (documented default), as a deploy puts real ones in WebhookSigningSecret."""
    secret = os.environ.get("LOCAL_WEBHOOK_SECRET") or DEFAULT_WEBHOOK_SECRET
    if "WebhookSigningSecret" in stack.resources:
        session.client("secretsmanager", endpoint_url=endpoint).put_secret_value(
            SecretId=stack.resources["WebhookSigningSecret"], SecretString=json.dumps({"active": [secret]})
        )
    for spec in stack.functions.values():
        if "WEBHOOK_URL" in spec.environment and not spec.environment["WEBHOOK_URL"]:
            spec.environment["WEBHOOK_URL"] = f"{sink_url}/webhooks"


def _start_stream_pollers(
    stack: Any, streams: Any, runtimes: dict[str, FunctionRuntime], region: str, log: Any
) -> list[StreamPoller]:
    pollers = []
    for lid, spec in stack.functions.items():
        for event in spec.events.values():
            if event["Type"] != "DynamoDB":
                continue
            poller = StreamPoller(
                streams,
                stack.resolver.resolve(event["Properties"]["Stream"]),
                region,
                runtimes[lid],
                int(event["Properties"].get("BatchSize", 100)),
                log,
            )
            poller.start()
            pollers.append(poller)
    return pollers


def _subscribe_functions(stack: Any, session: boto3.session.Session, endpoint: str, control: ControlServer) -> None:
    sns = session.client("sns", endpoint_url=endpoint)
    for lid, spec in stack.functions.items():
        for event in spec.events.values():
            if event["Type"] != "SNS":
                continue
            topic_arn = stack.resolver.resolve(event["Properties"]["Topic"])
            arn = sns.subscribe(
                TopicArn=topic_arn, Protocol="http", Endpoint=f"{control.url}/sns/{lid}", ReturnSubscriptionArn=True
            )["SubscriptionArn"]
            control.subscription_arns[lid] = arn


def _start_pollers(
    stack: Any, endpoint: str, runtimes: dict[str, FunctionRuntime], concurrency: int, region: str, log: Any
) -> list[QueuePoller]:
    pollers = []
    for lid, spec in stack.functions.items():
        for event in spec.events.values():
            if event["Type"] != "SQS":
                continue
            queue_arn = stack.resolver.resolve(event["Properties"]["Queue"])
            queue_lid = next(q for q, arn in stack.queue_arns.items() if arn == queue_arn)
            # Lambda's event source mapping polls with the function's role, not the account's.
            sqs = boto3.client(
                "sqs", endpoint_url=endpoint, region_name=region, **{k.lower(): v for k, v in spec.credentials.items()}
            )
            poller = QueuePoller(
                sqs,
                stack.queue_urls[queue_lid],
                queue_arn,
                region,
                runtimes[lid],
                int(event["Properties"].get("BatchSize", 10)),
                concurrency,
                log,
            )
            poller.start()
            pollers.append(poller)
    return pollers


if __name__ == "__main__":
    main()
