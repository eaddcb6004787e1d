"""What the integration suites share: moto's server over real HTTP (ffmpeg and ffprobe read S3
through it, and it records what it served), a canary that hostile files point at, tables made
from template.yaml's own definitions, and one way to forget cached configuration."""

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from devstack.moto_patches import serialize_dynamodb
from devstack.template import load_template
from practika import settings
from tests.conftest import FakeLambdaContext, load_event
from tests.mediafactory import Canary, canary_server

TEMPLATE_RESOURCES = load_template()["Resources"]


def clear_cached_configuration() -> None:
    """Settings and clients are cached per container; tests change the environment between cases."""
    settings.reset()


def create_table_from_template(dynamodb: Any, logical_id: str, name: str) -> None:
    """A table with the key schema and indexes template.yaml deploys, so tests cannot drift from it."""
    props = TEMPLATE_RESOURCES[logical_id]["Properties"]
    indexes = {key: props[key] for key in ("GlobalSecondaryIndexes",) if key in props}
    dynamodb.create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
        **indexes,
    )


def call_upload_api(
    name: str, *, body: Any = None, video_id: str | None = None, sub: str | None = None
) -> tuple[int, Any]:
    """Invoke the upload API with a sample event from events/, its body, path and caller replaced."""
    from upload import api

    event = load_event(name)
    if body is not None:
        event["body"] = json.dumps(body)
    if video_id is not None:
        event["pathParameters"] = {"video_id": video_id}
        event["rawPath"] = event["rawPath"].replace(event["rawPath"].split("/")[2], video_id)
        event["requestContext"]["http"]["path"] = event["rawPath"]
    if sub is not None:
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = sub
    answer = api.handler(event, FakeLambdaContext(function_name="upload-api"))
    return answer["statusCode"], json.loads(answer["body"])


def reset_moto(endpoint: str) -> None:
    """moto's backends are process-wide: a server started by another module still holds its state."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=5)


@dataclass
class Served:
    method: str
    path: str
    range: str | None
    bytes_sent: int = 0


@dataclass
class RecordingApp:
    """WSGI middleware: what moto answered, request by request."""

    app: Any
    served: list[Served] = field(default_factory=list)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        entry = Served(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("HTTP_RANGE"))
        self.served.append(entry)
        for chunk in self.app(environ, start_response):
            # Small slices: the server stops iterating when the client hangs up, so the count is
            # what went out on the wire (plus socket buffers), not what moto prepared.
            for start in range(0, len(chunk), 16384):
                piece = chunk[start : start + 16384]
                entry.bytes_sent += len(piece)
                yield piece

    def object_reads(self, key: str) -> list[Served]:
        return [s for s in self.served if s.method == "GET" and s.path.endswith(key)]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[tuple[str, RecordingApp]]:
    # As in the local stack: moto's TransactWriteItems is not thread-safe (a failed condition restores
    # a copy of the table over concurrent writes), where DynamoDB itself is atomic; racing tests flaked.
    serialize_dynamodb()
    app = RecordingApp(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    with canary_server() as server:
        yield server
