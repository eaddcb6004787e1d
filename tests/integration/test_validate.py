"""The validate worker against a moto server over real HTTP and the real ffprobe.

moto's in-process mock cannot serve ffprobe's HTTP range reads, so these tests run moto's
server on 127.0.0.1 behind a small WSGI wrapper that records every request it answers (and how
many bytes), which is how they prove the probe never downloads a whole file.
"""

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from practika import aws, uploads, validation
from practika.settings import storage_settings
from tests import mediafactory
from tests.conftest import FakeLambdaContext, load_event

BUCKET = "practika-test-uploads"
TABLE = "practika-test-app"
OWNER = "user-alice"


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


@dataclass
class Canary:
    """An HTTP server hostile files point at; any request it gets is a failure of the locks."""

    url: str
    hits: list[str]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[tuple[str, RecordingApp]]:
    app = RecordingApp(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Canary(url=f"http://127.0.0.1:{server.server_port}", hits=hits)
    server.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, canary: Canary) -> dict[str, mediafactory.MediaCase]:
    return mediafactory.build_corpus(tmp_path_factory.mktemp("corpus"), canary.url)


def _clear_caches() -> None:
    aws.client.cache_clear()
    aws.table.cache_clear()
    storage_settings.cache_clear()
    uploads.upload_settings.cache_clear()
    validation.validation_settings.cache_clear()


@pytest.fixture
def stack(moto_server: tuple[str, RecordingApp], monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingApp]:
    """Fresh uploads bucket and app table on the moto server, the functions' environment pointing at them."""
    endpoint, recorder = moto_server
    requests.post(f"{endpoint}/moto-api/reset", timeout=5)
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "TABLE_NAME": TABLE,
        "UPLOADS_BUCKET": BUCKET,
        "CLIPS_BUCKET": "practika-test-clips",
        "MEDIA_ALLOW_HTTP": "1",
        **mediafactory.TEST_LIMITS,
    }.items():
        monkeypatch.setenv(name, value)
    _clear_caches()
    aws.client("s3").create_bucket(Bucket=BUCKET)
    create_app_table()
    recorder.served.clear()
    yield recorder
    _clear_caches()


def create_app_table() -> None:
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def request_upload(case: mediafactory.MediaCase, owner: str = OWNER) -> str:
    request = uploads.CreateVideoRequest(
        filename=case.filename, content_type=case.content_type, size_bytes=max(case.size_bytes, 1)
    )
    return uploads.create_upload(owner, request).video_id


def put_object(key: str, path: Path) -> None:
    aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())


def s3_event(key: str, *, encoded_key: str | None = None, bucket: str = BUCKET, count: int = 1) -> dict[str, Any]:
    """The sample SQS event with its S3 record pointing at `key` (URL-encoded the way S3 encodes keys)."""
    event = load_event("sqs-s3-object-created.json")
    template = event["Records"][0]
    body = json.loads(template["body"])
    body["Records"][0]["s3"]["bucket"]["name"] = bucket
    body["Records"][0]["s3"]["object"]["key"] = encoded_key or key
    event["Records"] = [
        {**template, "messageId": f"{template['messageId'][:-1]}{n}", "body": json.dumps(body)} for n in range(count)
    ]
    return event


def run_validate(event: dict[str, Any], timeout_s: float = 30.0) -> dict[str, Any]:
    from upload import validate

    return validate.handler(event, FakeLambdaContext(function_name="validate", timeout_s=timeout_s))


def video_item(video_id: str) -> dict[str, Any]:
    return aws.table(TABLE).get_item(Key={"pk": f"VIDEO#{video_id}", "sk": "VIDEO"})["Item"]


def keys_in_bucket() -> list[str]:
    return [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]


CORPUS_CASES = [
    "h264_aac_mp4", "hevc_mov", "vp9_opus_webm", "h264_mkv", "moov_at_end_mp4", "silent_mp4",
    "audio_only", "image", "text", "zero_bytes", "truncated", "hls_playlist", "ffconcat",
    "too_long", "resolution_too_high",
]  # fmt: skip


@pytest.mark.parametrize("name", CORPUS_CASES)
def test_each_corpus_file_gets_its_expected_outcome(
    name: str, stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase], canary: Canary,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    # Given an upload was issued and the file arrived under its key
    case = corpus[name]
    video_id = request_upload(case)
    key = f"uploads/{video_id}"
    if case.size_bytes == 0:
        # S3 would refuse an empty POST (content-length-range starts at 1); moto does not, nor does a part.
        aws.table(TABLE).update_item(
            Key={"pk": f"VIDEO#{video_id}", "sk": "VIDEO"},
            UpdateExpression="SET size_bytes = :zero",
            ExpressionAttributeValues={":zero": 0},
        )
    put_object(key, case.path)
    caplog.clear()

    # When the validate worker gets the S3 event
    answer = run_validate(s3_event(key))

    # Then the video has the expected status, facts or code, and nothing was fetched elsewhere
    assert answer == {"batchItemFailures": []}
    item = video_item(video_id)
    assert item["status"] == case.status, item.get("rejection")
    if case.status == "ready":
        for fact, expected in case.facts.items():
            assert item["media"][fact] == expected, fact
        assert key in keys_in_bucket()
    else:
        assert item["rejection"]["code"] == case.code
        assert key not in keys_in_bucket()
        assert f"quarantine/{video_id}" in keys_in_bucket()
    events = {getattr(record, "security_event", None) for record in caplog.records} - {None}
    assert events == ({case.security_event} if case.security_event else set())
    assert canary.hits == []


def test_probe_reads_a_fraction_of_a_large_moov_at_end_file(
    stack: RecordingApp, tmp_path: Path
) -> None:
    # Given a 6 MB, 4 s MP4 whose index sits at the end
    moov_at_end = mediafactory.make_noise_video(
        tmp_path / "big_moov_at_end.mp4", size_bytes=6 * 1024 * 1024, duration_s=4.0, faststart=False
    )
    case = mediafactory.MediaCase("big", moov_at_end, "video/mp4", "ready")
    video_id = request_upload(case)
    key = f"uploads/{video_id}"
    put_object(key, moov_at_end)
    stack.served.clear()

    # When it is validated
    run_validate(s3_event(key))

    # Then it is ready, read with range requests, far less than the file's bytes
    assert video_item(video_id)["status"] == "ready"
    reads = stack.object_reads(key)
    read_bytes = sum(r.bytes_sent for r in reads)
    print(f"ffprobe+sniff read {read_bytes} of {case.size_bytes} bytes in {len(reads)} GETs")
    assert all(r.range for r in reads)
    assert read_bytes < min(case.size_bytes * 0.5, 4 * 1024 * 1024)
