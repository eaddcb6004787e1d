"""Uploads and validation through the local stack: API over HTTP, presigned POST and multipart uploads
to moto's S3, S3 notification -> IngestQueue -> validate worker, status polled over the API.

Every corpus file is uploaded once, all together, by the module's `outcomes` fixture; the tests
then read what the pipeline decided. Limits are the e2e stack's (tests/mediafactory.STACK_PARAMS).
"""

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from stacktools.client import wait_for
from tests import mediafactory
from tests.e2e import clients
from tests.mediafactory import Canary

CORPUS_CASES = [
    "h264_aac_mp4", "hevc_mov", "vp9_opus_webm", "h264_mkv", "moov_at_end_mp4", "silent_mp4",
    "audio_only", "image", "text", "zero_bytes", "truncated", "hls_playlist", "ffconcat",
    "too_long", "resolution_too_high", "resolution_switch", "late_last_frame", "live_webm", "fragmented_mp4",
]  # fmt: skip
MULTIPART = "multipart_noise_mp4"
PART_BYTES = int(mediafactory.STACK_PARAMS["MultipartPartBytes"])


@dataclass
class Uploaded:
    """One upload sent by its own user, and the video once validation decided."""

    case: mediafactory.MediaCase
    owner: str
    video_id: str
    video: dict[str, Any]


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    with mediafactory.canary_server() as server:
        yield server


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, canary: Canary) -> dict[str, mediafactory.MediaCase]:
    directory = tmp_path_factory.mktemp("e2e-corpus")
    cases = mediafactory.build_corpus(directory, canary.url)
    # Above the lowered multipart threshold: two parts (5 MiB and the rest), 4 s so within MaxDurationSeconds.
    big = mediafactory.make_noise_video(directory / "big.mp4", size_bytes=PART_BYTES + 1024 * 1024, duration_s=4.0)
    cases[MULTIPART] = mediafactory.MediaCase(
        MULTIPART, big, "video/mp4", "ready",
        facts={"container": "mp4", "video_codec": "h264", "audio_codec": None, "width": 320, "height": 240},
    )  # fmt: skip
    return cases


@pytest.fixture(scope="module")
def outcomes(api, auth_headers, corpus) -> dict[str, Uploaded]:
    """Every corpus case (and the multipart one) uploaded concurrently, each by its own user, and validated."""

    def run(name: str) -> Uploaded:
        case = corpus[name]
        owner = f"uploader-{name}-{uuid.uuid4().hex[:6]}"
        headers = auth_headers(owner)
        video_id = clients.upload_file(api, headers, case.path, case.content_type)
        return Uploaded(case, owner, video_id, clients.wait_for_video(api, headers, video_id))

    with ThreadPoolExecutor(max_workers=6) as pool:
        return dict(zip(corpus, pool.map(run, corpus), strict=True))


def object_keys(aws_client, stack, prefix: str) -> set[str]:
    listed = aws_client("s3").list_objects_v2(Bucket=stack.resources["UploadsBucket"], Prefix=prefix)
    return {item["Key"] for item in listed.get("Contents", [])}


def security_events(stack, video_id: str) -> set[str]:
    """The `security_event` values the validate worker logged for this video."""
    log = Path(stack.description["logs_dir"]) / "ValidateFunction.log"
    found = set()
    for line in log.read_text(errors="replace").splitlines():
        if video_id not in line or "security_event" not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("video_id") == video_id and record.get("security_event"):
            found.add(record["security_event"])
    return found


@pytest.mark.parametrize("name", CORPUS_CASES)
def test_each_corpus_file_uploaded_with_a_presigned_post_gets_its_expected_outcome(name, outcomes, stack, aws_client):
    # Given the corpus file was uploaded through its presigned POST and validated
    uploaded = outcomes[name]
    case, video = uploaded.case, uploaded.video

    # Then the owner sees the expected status with the facts, or the expected rejection code
    assert video["video_id"] == uploaded.video_id
    assert video["filename"] == case.filename
    assert video["status"] == case.status, video["rejection"]
    uploads_keys = object_keys(aws_client, stack, "uploads/")
    quarantine_keys = object_keys(aws_client, stack, "quarantine/")
    if case.status == "ready":
        assert video["rejection"] is None
        for fact, expected in case.facts.items():
            assert video["media"][fact] == expected, fact
        assert set(video["media"]) == {
            "container", "duration_s", "size_bytes", "width", "height", "fps", "video_codec", "audio_codec",
        }  # fmt: skip
        assert video["media"]["size_bytes"] == case.size_bytes
        # and its bytes moved to validated/, which no upload URL can write
        assert f"uploads/{uploaded.video_id}" not in uploads_keys
        assert [
            k for k in object_keys(aws_client, stack, "validated/") if k.startswith(f"validated/{uploaded.video_id}/")
        ]
    else:
        assert video["media"] is None
        assert video["rejection"]["code"] == case.code
        assert video["rejection"]["message"]
        # and a rejected object left uploads/ for the quarantine prefix
        assert f"uploads/{uploaded.video_id}" not in uploads_keys
        assert f"quarantine/{uploaded.video_id}" in quarantine_keys
    # and files that pretend to be videos were logged as security events
    if case.security_event:
        assert case.security_event in security_events(stack, uploaded.video_id)


def test_a_short_h264_video_reports_every_fact_of_the_interface_table(outcomes):
    uploaded = outcomes["h264_aac_mp4"]

    assert uploaded.video["media"] == {
        "container": "mp4", "duration_s": 2.0, "size_bytes": uploaded.case.size_bytes, "width": 320,
        "height": 240, "fps": 25.0, "video_codec": "h264", "audio_codec": "aac",
    }  # fmt: skip
    assert set(uploaded.video) == {
        "video_id", "status", "filename", "created_at", "updated_at", "media", "rejection",
    }  # fmt: skip


def test_the_hostile_playlist_and_concat_files_never_made_anything_fetch_the_canary(outcomes, canary):
    # Given the HLS playlist and the ffconcat script (pointing at the canary) went through validation
    assert outcomes["hls_playlist"].video["status"] == "rejected"
    assert outcomes["ffconcat"].video["status"] == "rejected"

    # Then the canary never received a request
    assert canary.hits == []


def test_a_multipart_upload_above_the_threshold_completes_and_becomes_ready(outcomes, api, auth_headers):
    # Given a video larger than the lowered 5 MiB threshold, uploaded in parts and completed
    uploaded = outcomes[MULTIPART]
    headers = auth_headers(uploaded.owner)

    # Then it is ready with its real size
    assert uploaded.video["status"] == "ready", uploaded.video["rejection"]
    assert uploaded.video["media"]["size_bytes"] == uploaded.case.size_bytes
    assert uploaded.video["media"]["duration_s"] == pytest.approx(4.0, abs=0.1)
    assert clients.get_video(api, headers, uploaded.video_id).json() == uploaded.video


def test_a_multipart_upload_completed_twice_answers_200_both_times(api, auth_headers, corpus):
    # Given a video uploaded in parts
    data = corpus[MULTIPART].path.read_bytes()
    headers = auth_headers(f"twice-{uuid.uuid4().hex[:6]}")
    created = clients.create_video(api, headers, "big.mp4", "video/mp4", len(data))
    parts = clients.put_parts(created, data)

    # When the app completes it, and completes it again (a retry after a lost answer)
    first = clients.complete(api, headers, created["video_id"], parts)
    again = clients.complete(api, headers, created["video_id"], parts)

    # Then both answer 200 with the video, and it is validated once into ready
    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert first.json()["video_id"] == again.json()["video_id"] == created["video_id"]
    assert clients.wait_for_video(api, headers, created["video_id"])["status"] == "ready"


def test_completing_a_video_uploaded_with_a_post_answers_409_conflict(outcomes, api, auth_headers):
    uploaded = outcomes["silent_mp4"]

    answer = clients.complete(
        api, auth_headers(uploaded.owner), uploaded.video_id, [{"part_number": 1, "etag": '"abc"'}]
    )

    assert answer.status_code == 409, answer.text
    assert clients.error_of(answer)["code"] == "conflict"


def test_a_large_declared_size_is_offered_as_multipart_with_part_urls_covering_it(api, auth_headers):
    size = 2 * PART_BYTES + 1

    created = clients.create_video(api, auth_headers(f"planner-{uuid.uuid4().hex[:6]}"), "big.mp4", "video/mp4", size)

    upload = created["upload"]
    assert created["status"] == "awaiting_upload"
    assert upload["method"] == "MULTIPART"
    assert upload["part_size"] == PART_BYTES
    assert [p["part_number"] for p in upload["parts"]] == [1, 2, 3]
    assert upload["upload_id"] and upload["expires_at"]


def test_a_small_declared_size_is_offered_as_a_presigned_post_pinning_the_key(api, auth_headers):
    created = clients.create_video(api, auth_headers(f"planner-{uuid.uuid4().hex[:6]}"), "a.mp4", "video/mp4", 1000)

    upload = created["upload"]
    assert created["status"] == "awaiting_upload"
    assert upload["method"] == "POST"
    assert upload["fields"]["key"] == f"uploads/{created['video_id']}"
    assert upload["fields"]["Content-Type"] == "video/mp4"
    assert upload["url"] and upload["expires_at"]


@pytest.mark.parametrize("name", ["stray-{}", "stray dir/vidéo {} (1).mp4"], ids=["plain", "spaces_slash_unicode"])
def test_an_object_put_straight_into_uploads_with_no_video_leaves_the_uploads_prefix(stack, aws_client, corpus, name):
    # Given an object written to uploads/ without any upload having been issued for it
    key = "uploads/" + name.format(uuid.uuid4().hex)
    aws_client("s3").put_object(
        Bucket=stack.resources["UploadsBucket"], Key=key, Body=corpus["h264_aac_mp4"].path.read_bytes()
    )

    # When its S3 event reaches the validate worker
    quarantined = "quarantine/" + key.removeprefix("uploads/")
    wait_for(lambda: key not in object_keys(aws_client, stack, "uploads/"), timeout_s=60)

    # Then it was moved to quarantine/
    assert quarantined in object_keys(aws_client, stack, "quarantine/")


def test_another_users_video_answers_404_exactly_like_a_missing_one(outcomes, api, auth_headers):
    # Given a video of someone else, a video id nobody has and a malformed id
    theirs = outcomes["silent_mp4"].video_id
    stranger = auth_headers("stranger-e2e")

    ids = (theirs, uuid.uuid4().hex, "nope")

    # When a stranger asks for each
    answers = [clients.get_video(api, stranger, video_id) for video_id in ids]

    # Then all three are the same 404, body and all (but for the id asked for, which errors echo)
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert clients.same_answer(answers[0], answers[1], ids[0], ids[1]), (answers[0].text, answers[1].text)
    assert clients.same_answer(answers[0], answers[2], ids[0], ids[2]), (answers[0].text, answers[2].text)
    assert clients.error_of(answers[0])["code"] == "not_found"
    # and the owner does see it
    assert clients.get_video(api, auth_headers(outcomes["silent_mp4"].owner), theirs).status_code == 200


def test_completing_another_users_upload_answers_404_like_a_missing_one(api, auth_headers):
    owner = auth_headers(f"owner-{uuid.uuid4().hex[:6]}")
    created = clients.create_video(api, owner, "big.mp4", "video/mp4", PART_BYTES + 1)
    parts = [{"part_number": 1, "etag": '"abc"'}, {"part_number": 2, "etag": '"def"'}]

    missing_id = uuid.uuid4().hex

    theirs = clients.complete(api, auth_headers("stranger-e2e"), created["video_id"], parts)
    missing = clients.complete(api, auth_headers("stranger-e2e"), missing_id, parts)

    assert theirs.status_code == 404, theirs.text
    assert clients.same_answer(theirs, missing, created["video_id"], missing_id), (theirs.text, missing.text)


@pytest.mark.parametrize(
    "body",
    [
        {"content_type": "video/mp4", "size_bytes": 10},
        {"filename": "a.mp4", "content_type": "image/png", "size_bytes": 10},
        {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 0},
        {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 64 * 1024 * 1024 + 1},
        {"filename": "../etc/passwd", "content_type": "video/mp4", "size_bytes": 10},
        {"filename": "", "content_type": "video/mp4", "size_bytes": 10},
        {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": "lots"},
        [],
    ],
    ids=[
        "missing_filename",
        "content_type_not_allowed",
        "size_zero",
        "size_over_limit",
        "filename_with_slash",
        "empty_filename",
        "size_not_a_number",
        "not_an_object",
    ],
)
def test_a_bad_upload_request_answers_422_in_the_error_shape(api, auth_headers, body):
    answer = requests.post(f"{api}/videos", headers=auth_headers("bad-bodies"), json=body, timeout=30)

    assert answer.status_code == 422, answer.text
    assert clients.error_of(answer)["code"] == "validation_error"


def test_a_key_sent_by_the_client_is_not_the_key_the_upload_gets(api, auth_headers):
    body = {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 10, "key": "uploads/mine"}

    answer = requests.post(
        f"{api}/videos", headers=auth_headers(f"keyed-{uuid.uuid4().hex[:6]}"), json=body, timeout=30
    )

    assert answer.status_code in (201, 422), answer.text
    if answer.status_code == 201:
        created = answer.json()
        assert created["upload"]["fields"]["key"] == f"uploads/{created['video_id']}"
    else:
        assert clients.error_of(answer)["code"] == "validation_error"


def test_a_body_that_is_not_json_answers_422_in_the_error_shape(api, auth_headers):
    answer = requests.post(f"{api}/videos", headers=auth_headers("bad-bodies"), data="{not json", timeout=30)

    assert answer.status_code == 422, answer.text
    assert clients.error_of(answer)["code"] in ("invalid_json", "validation_error")


def test_complete_with_parts_out_of_order_answers_422(api, auth_headers):
    owner = auth_headers(f"owner-{uuid.uuid4().hex[:6]}")
    created = clients.create_video(api, owner, "big.mp4", "video/mp4", PART_BYTES + 1)

    answer = clients.complete(
        api, owner, created["video_id"], [{"part_number": 2, "etag": '"b"'}, {"part_number": 1, "etag": '"a"'}]
    )

    assert answer.status_code == 422, answer.text
    clients.error_of(answer)


def test_more_pending_uploads_than_allowed_answers_429_quota_exceeded(stack, api, auth_headers):
    # Given a user who asked for as many uploads as MaxPendingUploads allows and sent none
    allowed = int(stack.description["parameters"]["MaxPendingUploads"])
    headers = auth_headers(f"hoarder-{uuid.uuid4().hex[:6]}")
    for n in range(allowed):
        clients.create_video(api, headers, f"v{n}.mp4", "video/mp4", 1000)

    # When they ask for one more
    answer = requests.post(
        f"{api}/videos",
        headers=headers,
        timeout=30,
        json={"filename": "one-more.mp4", "content_type": "video/mp4", "size_bytes": 1000},
    )

    # Then it is refused with 429 quota_exceeded naming the pending-uploads quota
    assert answer.status_code == 429, answer.text
    error = clients.error_of(answer)
    assert error["code"] == "quota_exceeded"
    assert error["details"]["quota"] == "pending_uploads"
    # and another user is not affected
    assert (
        requests.post(
            f"{api}/videos",
            headers=auth_headers(f"other-{uuid.uuid4().hex[:6]}"),
            timeout=30,
            json={"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1000},
        ).status_code
        == 201
    )


def test_after_the_upload_suite_no_message_is_left_in_a_queue_or_dlq(outcomes, stack, aws_client):
    clients.assert_pipeline_drained(stack, aws_client("sqs"))
