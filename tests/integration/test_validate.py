"""The validate worker against a moto server over real HTTP and the real ffprobe.

moto's in-process mock cannot serve ffprobe's HTTP range reads, so these tests run moto's
server on 127.0.0.1 behind a small WSGI wrapper that records every request it answers (and how
many bytes), which is how they prove the probe never downloads a whole file.
"""

import http.server
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from practika import aws, settings
from practika.media import tools
from practika.videos import store, uploads, validation
from practika.videos.model import CreateVideoRequest, MediaFacts
from tests import browserrecorder, mediafactory
from tests.conftest import FakeLambdaContext, load_event
from tests.integration.conftest import (
    Canary,
    RecordingApp,
    call_upload_api,
    clear_cached_configuration,
    create_table_from_template,
    reset_moto,
)

BUCKET = "practika-test-uploads"
TABLE = "practika-test-app"
OWNER = "user-alice"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, canary: Canary) -> dict[str, mediafactory.MediaCase]:
    return mediafactory.build_corpus(tmp_path_factory.mktemp("corpus"), canary.url)


@pytest.fixture
def stack(moto_server: tuple[str, RecordingApp], monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingApp]:
    """Fresh uploads bucket and app table on the moto server, the functions' environment pointing at them."""
    endpoint, recorder = moto_server
    reset_moto(endpoint)
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "TABLE_NAME": TABLE,
        "UPLOADS_BUCKET": BUCKET,
        "CLIPS_BUCKET": "practika-test-clips",
        "MEDIA_ALLOW_HTTP": "1",
        **mediafactory.TEST_LIMITS,
    }.items():
        monkeypatch.setenv(name, value)
    clear_cached_configuration()
    aws.client("s3").create_bucket(Bucket=BUCKET)
    create_table_from_template(aws.client("dynamodb"), "AppTable", TABLE)
    recorder.served.clear()
    yield recorder
    clear_cached_configuration()


def request_upload(case: mediafactory.MediaCase, owner: str = OWNER) -> str:
    request = CreateVideoRequest(
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
    "too_long", "resolution_too_high", "resolution_switch", "late_last_frame", "live_webm", "fragmented_mp4",
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
        # The accepted bytes moved to validated/, where no upload URL can write: clips are cut from there.
        assert keys_in_bucket() == [f"validated/{video_id}/{item['object_etag']}"]
        assert item["source_key"] == f"validated/{video_id}/{item['object_etag']}"
    else:
        assert item["rejection"]["code"] == case.code
        assert key not in keys_in_bucket()
        assert f"quarantine/{video_id}" in keys_in_bucket()
    events = {getattr(record, "security_event", None) for record in caplog.records} - {None}
    assert events == ({case.security_event} if case.security_event else set())
    assert canary.hits == []


def test_probe_reads_a_fraction_of_a_large_moov_at_end_file(
    stack: RecordingApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a 6 MB, 4 s MP4 whose index sits at the end, over the size read whole (lowered to 1 MiB)
    monkeypatch.setenv("SCAN_WHOLE_BYTES", str(1024 * 1024))
    clear_cached_configuration()
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


def test_a_presigned_post_upload_over_http_ends_ready_with_its_facts(
    stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase]
) -> None:
    # Given an upload asked for through the API
    case = corpus["h264_aac_mp4"]
    body = {"filename": case.filename, "content_type": case.content_type, "size_bytes": case.size_bytes}
    status, created = call_upload_api("api-post-videos.json", body=body)
    assert status == 201
    upload = created["upload"]

    # When the file is POSTed with the presigned form and S3's event reaches the worker
    with case.path.open("rb") as file:
        answer = requests.post(upload["url"], data=upload["fields"], files={"file": file}, timeout=10)
    assert answer.status_code in (200, 201, 204)
    run_validate(s3_event(upload["fields"]["key"]))

    # Then the owner sees it ready with the media facts of the interface table
    status, video = call_upload_api("api-get-video.json", video_id=created["video_id"])
    assert status == 200
    assert video["status"] == "ready"
    assert video["media"] == {
        "container": "mp4", "duration_s": 2.0, "size_bytes": case.size_bytes, "width": 320, "height": 240,
        "fps": 25.0, "video_codec": "h264", "audio_codec": "aac",
    }  # fmt: skip
    assert video["rejection"] is None


def test_a_multipart_upload_over_http_completes_and_ends_ready(
    stack: RecordingApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a 7 MB video above a lowered multipart threshold (parts of 5 MiB)
    monkeypatch.setenv("MULTIPART_THRESHOLD_BYTES", str(1024 * 1024))
    monkeypatch.setenv("MULTIPART_PART_BYTES", str(5 * 1024 * 1024))
    settings.reset()
    path = mediafactory.make_noise_video(tmp_path / "big.mp4", size_bytes=7 * 1024 * 1024, duration_s=4.0)
    data = path.read_bytes()
    body = {"filename": "big.mp4", "content_type": "video/mp4", "size_bytes": len(data)}
    _, created = call_upload_api("api-post-videos.json", body=body)
    upload = created["upload"]
    assert upload["method"] == "MULTIPART"
    assert len(upload["parts"]) == 2

    # When each part is PUT to its URL and the upload is completed through the API
    etags = []
    for part in upload["parts"]:
        start = (part["part_number"] - 1) * upload["part_size"]
        answer = requests.put(part["url"], data=data[start : start + upload["part_size"]], timeout=10)
        assert answer.status_code == 200
        etags.append({"part_number": part["part_number"], "etag": answer.headers["ETag"]})
    status, completed = call_upload_api("api-complete-upload.json", video_id=created["video_id"], body={"parts": etags})
    again = call_upload_api("api-complete-upload.json", video_id=created["video_id"], body={"parts": etags})
    run_validate(s3_event(f"uploads/{created['video_id']}"))

    # Then completion answers 200 (twice: it is idempotent) and the video is ready with its real size
    assert status == 200
    assert completed["status"] == "awaiting_upload"
    assert again[0] == 200
    _, video = call_upload_api("api-get-video.json", video_id=created["video_id"])
    assert video["status"] == "ready"
    assert video["media"]["size_bytes"] == len(data)


def test_duplicate_events_validate_once_and_count_the_upload_once(
    stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an uploaded video whose event S3 delivered twice in one batch
    case = corpus["silent_mp4"]
    video_id = request_upload(case)
    put_object(f"uploads/{video_id}", case.path)
    capsys.readouterr()

    # When the batch and then a late third copy are processed
    first = run_validate(s3_event(f"uploads/{video_id}", count=2))
    updated_at = video_item(video_id)["updated_at"]
    late = run_validate(s3_event(f"uploads/{video_id}"))

    # Then the video is ready, the late event changed nothing, and VideoUploads was emitted once
    assert first == late == {"batchItemFailures": []}
    item = video_item(video_id)
    assert item["status"] == "ready"
    assert item["updated_at"] == updated_at
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert sum(1 for blob in emitted if "VideoUploads" in blob) == 1


def test_a_stale_event_for_a_rejected_video_finishes_moving_the_object_out(
    stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase]
) -> None:
    # Given a rejected video whose object came back under its key (the POST policy is reusable)
    case = corpus["text"]
    video_id = request_upload(case)
    put_object(f"uploads/{video_id}", case.path)
    run_validate(s3_event(f"uploads/{video_id}"))
    put_object(f"uploads/{video_id}", case.path)

    # When its event arrives
    run_validate(s3_event(f"uploads/{video_id}"))

    # Then the status stays rejected and the object left uploads/ again
    assert video_item(video_id)["rejection"]["code"] == "not_a_video"
    assert f"uploads/{video_id}" not in keys_in_bucket()


def test_an_object_no_upload_was_issued_for_is_moved_away_with_its_key_decoded(
    stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase], caplog: pytest.LogCaptureFixture
) -> None:
    # Given an object written straight to uploads/ under a name with a space, a slash and unicode
    key = "uploads/sneaky dir/vidéo 1.mp4"
    put_object(key, corpus["h264_aac_mp4"].path)
    encoded = "uploads/sneaky+dir%2Fvid%C3%A9o+1.mp4"

    # When its event (key URL-encoded as S3 sends it) is processed
    answer = run_validate(s3_event(key, encoded_key=encoded))

    # Then it left uploads/ for quarantine/ and a security event was logged
    assert answer == {"batchItemFailures": []}
    assert keys_in_bucket() == ["quarantine/sneaky dir/vidéo 1.mp4"]
    assert "unknown_upload" in {getattr(r, "security_event", None) for r in caplog.records}


def test_s3_test_events_are_skipped(stack: RecordingApp) -> None:
    assert run_validate(load_event("sqs-s3-test-event.json")) == {"batchItemFailures": []}


def test_one_bad_record_fails_alone_in_its_batch(
    stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase]
) -> None:
    # Given a batch with a good record and a record whose body is not JSON
    case = corpus["silent_mp4"]
    video_id = request_upload(case)
    put_object(f"uploads/{video_id}", case.path)
    event = s3_event(f"uploads/{video_id}", count=2)
    event["Records"][1]["body"] = "not json"

    # When it is processed
    answer = run_validate(event)

    # Then only the bad record is reported for a retry, and the good one was validated
    assert answer == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert video_item(video_id)["status"] == "ready"


def test_a_file_larger_than_announced_is_rejected_as_a_size_mismatch(
    stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase]
) -> None:
    case = corpus["h264_aac_mp4"]
    request = CreateVideoRequest(filename="a.mp4", content_type="video/mp4", size_bytes=1000)
    video_id = uploads.create_upload(OWNER, request).video_id
    put_object(f"uploads/{video_id}", case.path)

    run_validate(s3_event(f"uploads/{video_id}"))

    assert video_item(video_id)["rejection"]["code"] == "size_mismatch"


def test_a_file_over_the_size_limit_is_rejected_as_too_large_and_deleted_when_configured(
    stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a limit lowered below the file's real size and rejected objects deleted
    case = corpus["h264_aac_mp4"]
    video_id = request_upload(case)
    monkeypatch.setenv("MAX_UPLOAD_BYTES", str(case.size_bytes - 1))
    monkeypatch.setenv("REJECTED_OBJECTS", "delete")
    settings.reset()
    put_object(f"uploads/{video_id}", case.path)

    run_validate(s3_event(f"uploads/{video_id}"))

    assert video_item(video_id)["rejection"]["code"] == "too_large"
    assert keys_in_bucket() == []


def test_a_file_that_makes_ffprobe_hang_is_killed_and_rejected(
    stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given storage that answers headers and then never sends a byte, and a 3 s probe budget
    stalled: list[str] = []

    class Stall(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            stalled.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "100000000")
            self.end_headers()
            threading.Event().wait(10)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stall)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(store, "presign_probe_url", lambda *_: f"http://127.0.0.1:{server.server_port}/v.mp4")
    monkeypatch.setenv("PROBE_TIMEOUT_S", "3")
    settings.reset()
    case = corpus["h264_aac_mp4"]
    video_id = request_upload(case)
    put_object(f"uploads/{video_id}", case.path)

    # When the worker validates it
    run_validate(s3_event(f"uploads/{video_id}"))
    server.shutdown()

    # Then ffprobe was killed at the deadline and the video rejected, not retried forever
    assert stalled
    assert video_item(video_id)["rejection"]["code"] == "probe_timeout"


@pytest.fixture
def crashing_ffprobe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ffprobe that dies of SIGSEGV, as a decoder crash or the out-of-memory killer would end it."""
    shim = tmp_path / "bin" / "ffprobe"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\nkill -SEGV $$\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}:{os.environ['PATH']}")


def delivered(event: dict[str, Any], attempt: int) -> dict[str, Any]:
    for record in event["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = str(attempt)
    return event


def test_a_crashed_ffprobe_is_no_verdict_the_message_is_retried_and_the_upload_kept(
    stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase], crashing_ffprobe: None
) -> None:
    # Given a good upload whose probe crashes on the first delivery
    case = corpus["h264_aac_mp4"]
    video_id = request_upload(case)
    put_object(f"uploads/{video_id}", case.path)

    # When the worker handles that delivery, then the record fails (a batch of one fails whole, so
    # SQS delivers it again) and nothing was decided or moved
    with pytest.raises(BatchProcessingError):
        run_validate(delivered(s3_event(f"uploads/{video_id}"), attempt=1))
    assert video_item(video_id)["status"] == "validating"
    assert keys_in_bucket() == [f"uploads/{video_id}"]


def test_a_file_that_crashes_ffprobe_on_every_delivery_is_finally_rejected_as_corrupt(
    stack: RecordingApp,
    corpus: dict[str, mediafactory.MediaCase],
    crashing_ffprobe: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given an upload that has crashed ffprobe on the earlier deliveries
    case = corpus["h264_aac_mp4"]
    video_id = request_upload(case)
    put_object(f"uploads/{video_id}", case.path)

    # When its last allowed delivery crashes ffprobe again
    answer = run_validate(delivered(s3_event(f"uploads/{video_id}"), attempt=validation.CRASH_ATTEMPTS))

    # Then it is rejected as corrupt, moved out of uploads/, and logged as a security event
    assert answer["batchItemFailures"] == []
    assert video_item(video_id)["rejection"]["code"] == "corrupt"
    assert f"uploads/{video_id}" not in keys_in_bucket()
    assert "tool_crash" in {getattr(r, "security_event", None) for r in caplog.records}


@pytest.fixture(scope="module")
def browser_recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each MediaRecorder format Chrome offers, recorded by a real headless chromium (2 s, fake camera)."""
    directory = tmp_path_factory.mktemp("recordings")

    def make(name: str) -> tuple[str, Path]:
        mime_type, suffix = browserrecorder.RECORDINGS[name]
        return name, browserrecorder.record(directory / f"{name}{suffix}", mime_type, seconds=2.0)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(make, browserrecorder.RECORDINGS))


def last_packet_end_s(path: Path) -> float:
    """Where the file's last video packet ends, from the file's start: its true duration as a video.

    Video only, as validation measures it: under load a recorder keeps its audio running after the
    camera's last frame, and a clip of that tail would have no picture."""
    out = subprocess.run(
        [tools.binary("ffprobe"), "-v", "error", "-select_streams", "v:0",
         "-show_entries", "packet=pts_time,duration_time:format=start_time",
         "-of", "json", str(path)],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    data = json.loads(out)
    ends = [float(p["pts_time"]) + float(p.get("duration_time") or 0) for p in data["packets"] if "pts_time" in p]
    return max(ends) - float(data["format"].get("start_time") or 0)


@pytest.mark.parametrize("name", list(browserrecorder.RECORDINGS))
def test_a_browser_recording_is_ready_with_its_true_duration(
    name: str, stack: RecordingApp, browser_recordings: dict[str, Path]
) -> None:
    # Given a recording made by a browser's MediaRecorder (no Duration, no Cues; or fragmented MP4)
    path = browser_recordings[name]
    mime_type, _ = browserrecorder.RECORDINGS[name]
    case = mediafactory.MediaCase(name, path, mime_type.split(";")[0], "ready")
    video_id = request_upload(case)
    put_object(f"uploads/{video_id}", path)

    # When it is validated
    run_validate(s3_event(f"uploads/{video_id}"))

    # Then it is ready, and its duration is where its video really ends (within a frame of the last packet)
    item = video_item(video_id)
    assert item["status"] == "ready", item.get("rejection")
    assert float(item["media"]["duration_s"]) == pytest.approx(last_packet_end_s(path), abs=0.1)
    assert (item["media"]["width"], item["media"]["height"]) == (320, 240)


def test_the_validated_copy_is_made_only_of_the_bytes_that_were_validated(stack: RecordingApp) -> None:
    # Given the local S3 with S3's conditional copy, and an upload validated by its ETag then written again
    from devstack.moto_patches import enforce_copy_source_if_match

    enforce_copy_source_if_match()
    s3, video_id = aws.client("s3"), "d" * 32
    key = f"uploads/{video_id}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"the bytes validation read")
    validated_etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"bytes written during validation")

    # When validation keeps what it validated
    with pytest.raises(store.ObjectChanged):
        store.keep_validated(BUCKET, key, video_id, validated_etag)

    # Then nothing reached validated/: the new bytes are validated by their own event
    assert not [k for k in keys_in_bucket() if k.startswith("validated/")]
    current = s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    kept = store.keep_validated(BUCKET, key, video_id, current)
    assert kept == f"validated/{video_id}/{current}"
    assert s3.get_object(Bucket=BUCKET, Key=kept)["Body"].read() == b"bytes written during validation"


def test_two_runs_validating_different_bytes_of_one_upload_leave_the_copy_the_record_describes(
    stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given run A validated the first bytes and copied them, then other bytes were written (the POST
    # policy is reusable) and run B validates those; A records its facts while B copies
    first, second = corpus["h264_aac_mp4"], corpus["h264_mkv"]
    video_id = request_upload(first)
    key = f"uploads/{video_id}"
    put_object(key, first.path)
    assert store.begin_validation(video_id) is not None
    first_etag = store.head_upload(BUCKET, key).etag  # type: ignore[union-attr]
    kept_a = store.keep_validated(BUCKET, key, video_id, first_etag)
    put_object(key, second.path)
    aws.table(TABLE).update_item(
        Key={"pk": f"VIDEO#{video_id}", "sk": "VIDEO"},
        UpdateExpression="SET size_bytes = :size",
        ExpressionAttributeValues={":size": second.path.stat().st_size},
    )
    real_keep = store.keep_validated
    facts_a = MediaFacts(container="mp4", duration_s=1, size_bytes=1, width=64, height=64, fps=25, video_codec="h264")

    def keep_then_lose(bucket: str, key: str, video_id: str, etag: str) -> str:
        kept = real_keep(bucket, key, video_id, etag)
        assert store.mark_ready(video_id, facts_a, first_etag)  # run A decides the video first
        return kept

    monkeypatch.setattr(store, "keep_validated", keep_then_lose)

    # When run B finishes
    run_validate(s3_event(key))

    # Then the record's source is the bytes it holds facts for, and B's copy is gone
    item = video_item(video_id)
    assert (item["status"], item["object_etag"], item["source_key"]) == ("ready", first_etag, kept_a)
    assert aws.client("s3").get_object(Bucket=BUCKET, Key=kept_a)["Body"].read() == first.path.read_bytes()
    assert [k for k in keys_in_bucket() if k.startswith("validated/")] == [kept_a]


def test_an_object_written_over_a_ready_video_is_moved_out_and_the_validated_copy_kept(
    stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a ready video, and other bytes written under its upload key (the POST policy is reusable)
    case = corpus["h264_aac_mp4"]
    video_id = request_upload(case)
    put_object(f"uploads/{video_id}", case.path)
    run_validate(s3_event(f"uploads/{video_id}"))
    put_object(f"uploads/{video_id}", corpus["text"].path)

    # When that write's event arrives
    run_validate(s3_event(f"uploads/{video_id}"))

    # Then the video stays ready on its validated copy; the write left uploads/ with an owner-tagged event
    assert video_item(video_id)["status"] == "ready"
    assert keys_in_bucket() == [f"quarantine/{video_id}", video_item(video_id)["source_key"]]
    assert video_item(video_id)["source_key"].startswith(f"validated/{video_id}/")
    replaced = [r for r in caplog.records if getattr(r, "security_event", None) == "object_replaced"]
    assert [getattr(r, "owner", None) for r in replaced] == [OWNER]


def test_a_replayed_event_for_a_video_validated_before_the_copy_existed_leaves_its_object(
    stack: RecordingApp, corpus: dict[str, mediafactory.MediaCase]
) -> None:
    # Given a ready video validated before validated/ existed: its record has no source_key
    case = corpus["h264_aac_mp4"]
    video_id = request_upload(case)
    put_object(f"uploads/{video_id}", case.path)
    run_validate(s3_event(f"uploads/{video_id}"))
    source_key = video_item(video_id)["source_key"]
    aws.client("s3").copy_object(
        Bucket=BUCKET, Key=f"uploads/{video_id}", CopySource={"Bucket": BUCKET, "Key": source_key}
    )
    aws.client("s3").delete_object(Bucket=BUCKET, Key=source_key)
    aws.table(TABLE).update_item(Key={"pk": f"VIDEO#{video_id}", "sk": "VIDEO"}, UpdateExpression="REMOVE source_key")

    # When its event is delivered again (a redrive)
    run_validate(s3_event(f"uploads/{video_id}"))

    # Then its only copy stays where the clip worker reads it
    assert keys_in_bucket() == [f"uploads/{video_id}"]
