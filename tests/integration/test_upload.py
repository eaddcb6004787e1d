"""The upload API against moto (mock_aws): presigned POST policy, multipart plan, quotas, ownership.

moto does not enforce POST policies, so the policy document itself is decoded and every
condition asserted.
"""

import base64
import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from moto import mock_aws

from practika import aws, settings
from practika.observability import logger
from tests.integration.conftest import call_upload_api, clear_cached_configuration, create_table_from_template

BUCKET = "practika-test-uploads"
TABLE = "practika-test-app"
MIB = 1024 * 1024


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in {
        "TABLE_NAME": TABLE,
        "UPLOADS_BUCKET": BUCKET,
        "CLIPS_BUCKET": "practika-test-clips",
        "MAX_UPLOAD_BYTES": str(500 * MIB),
        "MULTIPART_THRESHOLD_BYTES": str(8 * MIB),
        "MULTIPART_PART_BYTES": str(5 * MIB),
        "MAX_PENDING_UPLOADS": "3",
        "MAX_UPLOAD_BYTES_PER_DAY": str(1024 * MIB),
    }.items():
        monkeypatch.setenv(name, value)
    clear_cached_configuration()
    with mock_aws():
        aws.client("s3").create_bucket(Bucket=BUCKET)
        create_table_from_template(aws.client("dynamodb"), "AppTable", TABLE)
        yield
    clear_cached_configuration()


def call(name: str, *, body: Any = None, video_id: str | None = None, sub: str = "user-alice") -> tuple[int, Any]:
    return call_upload_api(name, body=body, video_id=video_id, sub=sub)


def new_video(size_bytes: int = 1000, sub: str = "user-alice") -> tuple[int, Any]:
    body = {"filename": "my clip.mp4", "content_type": "video/mp4", "size_bytes": size_bytes}
    return call("api-post-videos.json", body=body, sub=sub)


def test_post_videos_answers_a_presigned_post_for_a_server_chosen_key(stack: None) -> None:
    status, body = new_video(123_456)

    assert status == 201
    assert body["status"] == "awaiting_upload"
    assert body["upload"]["method"] == "POST"
    assert body["upload"]["fields"]["key"] == f"uploads/{body['video_id']}"
    assert body["upload"]["fields"]["Content-Type"] == "video/mp4"
    assert body["upload"]["url"].endswith(f"{BUCKET}/") or BUCKET in body["upload"]["url"]


def test_the_post_policy_pins_bucket_key_type_size_and_expiry(stack: None) -> None:
    # Given an upload asked for a 123,456-byte MP4
    before = datetime.now(UTC)
    _, body = new_video(123_456)
    fields = body["upload"]["fields"]

    # When its policy document is decoded
    policy = json.loads(base64.b64decode(fields["policy"]))

    # Then every condition is the expected one, and nothing else is allowed
    conditions = policy["conditions"]
    key = f"uploads/{body['video_id']}"
    assert {"bucket": BUCKET} in conditions
    assert {"key": key} in conditions
    assert {"Content-Type": "video/mp4"} in conditions
    assert ["content-length-range", 1, 123_456] in conditions
    assert {"x-amz-algorithm": "AWS4-HMAC-SHA256"} in conditions
    assert {"x-amz-credential": fields["x-amz-credential"]} in conditions
    assert {"x-amz-date": fields["x-amz-date"]} in conditions
    assert len(conditions) == 7
    expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert before + timedelta(seconds=895) <= expiration <= before + timedelta(seconds=905)
    assert body["upload"]["expires_at"][:16] == expiration.strftime("%Y-%m-%dT%H:%M")
    # No condition lets the client choose the key (no starts-with) or widen the type.
    assert not any(isinstance(c, list) and c[0] == "starts-with" for c in conditions)


def test_a_large_file_gets_multipart_urls_covering_its_declared_size(stack: None) -> None:
    status, body = new_video(12 * MIB + 1)

    upload = body["upload"]
    assert status == 201
    assert upload["method"] == "MULTIPART"
    assert upload["part_size"] == 5 * MIB
    assert [p["part_number"] for p in upload["parts"]] == [1, 2, 3]
    assert upload["part_size"] * len(upload["parts"]) >= 12 * MIB + 1
    assert all(f"uploadId={upload['upload_id']}" in p["url"] for p in upload["parts"])
    assert all(f"partNumber={p['part_number']}" in p["url"] for p in upload["parts"])


def test_the_video_starts_awaiting_upload_and_its_owner_sees_it(stack: None) -> None:
    _, created = new_video()

    status, body = call("api-get-video.json", video_id=created["video_id"])

    assert status == 200
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created["created_at"])
    assert body == {
        "video_id": created["video_id"],
        "status": "awaiting_upload",
        "filename": "my clip.mp4",
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
        "media": None,
        "rejection": None,
    }


def test_another_users_video_answers_exactly_like_a_missing_one(stack: None) -> None:
    _, created = new_video()

    theirs = call("api-get-video.json", video_id=created["video_id"], sub="user-mallory")
    missing = call("api-get-video.json", video_id="0" * 32, sub="user-mallory")

    assert theirs[0] == missing[0] == 404
    assert theirs[1]["error"]["code"] == missing[1]["error"]["code"] == "not_found"
    assert theirs[1]["error"]["message"] == missing[1]["error"]["message"]


def test_a_malformed_video_id_is_not_found(stack: None) -> None:
    status, body = call("api-get-video.json", video_id="not-a-video-id")

    assert status == 404
    assert body["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "change",
    [
        {"content_type": "image/png"},
        {"size_bytes": 0},
        {"size_bytes": 500 * MIB + 1},
        {"filename": "../../evil.mp4"},
        {"filename": ""},
        {"filename": "bad\nname.mp4"},
    ],
)
def test_an_invalid_request_is_refused_with_field_errors(stack: None, change: dict[str, Any]) -> None:
    body = {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 10, **change}

    status, answer = call("api-post-videos.json", body=body)

    assert status == 422
    assert answer["error"]["code"] == "validation_error"
    assert answer["error"]["details"][0]["loc"][-1] == next(iter(change))


def test_too_many_pending_uploads_answer_429_and_log_a_security_event(
    stack: None, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        assert new_video()[0] == 201

    with caplog.at_level(logging.INFO):
        status, body = new_video()

    assert status == 429
    assert body["error"]["code"] == "quota_exceeded"
    assert body["error"]["details"]["quota"] == "pending_uploads"
    assert [getattr(r, "security_event", None) for r in caplog.records if hasattr(r, "security_event")] == [
        "quota_exceeded"
    ]
    # Another user is not affected.
    assert new_video(sub="user-bob")[0] == 201


def test_the_daily_byte_allowance_answers_429_once_used_up(stack: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_PENDING_UPLOADS", "100")
    settings.reset()
    assert new_video(400 * MIB)[0] == 201
    assert new_video(400 * MIB)[0] == 201

    status, body = new_video(400 * MIB)

    assert status == 429
    assert body["error"]["details"]["quota"] == "bytes_per_day"
    assert new_video(200 * MIB)[0] == 201


def test_complete_on_a_single_post_upload_is_a_conflict(stack: None) -> None:
    _, created = new_video()

    status, body = call("api-complete-upload.json", video_id=created["video_id"])

    assert status == 409
    assert body["error"]["code"] == "conflict"


def test_complete_with_parts_out_of_order_is_refused(stack: None) -> None:
    _, created = new_video(12 * MIB)
    parts = [{"part_number": 2, "etag": '"a"'}, {"part_number": 1, "etag": '"b"'}]

    status, body = call("api-complete-upload.json", video_id=created["video_id"], body={"parts": parts})

    assert status == 422
    assert body["error"]["code"] == "invalid_request"


def test_completing_a_multipart_upload_reads_the_video_record_once(
    stack: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a multipart upload whose three parts are in S3 (5, 5 and 1 MiB: the declared size)
    _, created = new_video(11 * MIB)
    upload = created["upload"]
    s3 = aws.client("s3")
    key = f"uploads/{created['video_id']}"
    parts = [
        {"part_number": n, "etag": s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload["upload_id"],
                                                  PartNumber=n, Body=b"x" * (5 * MIB if n < 3 else MIB))["ETag"]}
        for n in (1, 2, 3)
    ]  # fmt: skip
    reads = []
    table = aws.table(TABLE)
    monkeypatch.setattr(table, "get_item", counting(table.get_item, reads))

    # When it is completed
    status, body = call("api-complete-upload.json", video_id=created["video_id"], body={"parts": parts})

    # Then the object is whole, and the video record was read once
    assert status == 200
    assert body["status"] == "awaiting_upload"
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 11 * MIB
    assert len(reads) == 1


def counting(function: Any, calls: list[Any]) -> Any:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return function(*args, **kwargs)

    return counted


def test_complete_of_someone_elses_upload_is_not_found(stack: None) -> None:
    _, created = new_video(12 * MIB)

    status, _ = call("api-complete-upload.json", video_id=created["video_id"], sub="user-mallory")

    assert status == 404


def test_keys_one_request_added_to_the_log_never_reach_the_next_request(stack: None) -> None:
    # Given bob at his pending-upload limit, and alice's request, which added her video's id to the log keys
    for _ in range(3):
        assert new_video(sub="user-bob")[0] == 201
    status, created = new_video()
    assert status == 201

    # When bob's next request is refused on the same warm handler (before anything of his is added)
    written = io.StringIO()
    previous = logger.registered_handler.setStream(written)  # type: ignore[attr-defined]
    try:
        assert new_video(sub="user-bob")[0] == 429
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]

    # Then none of bob's log lines carries alice's video id
    lines = [json.loads(line) for line in written.getvalue().splitlines() if line.startswith("{")]
    assert [line["message"] for line in lines] == ["upload quota exceeded", "request refused"]
    assert [line for line in lines if created["video_id"] in json.dumps(line)] == []


def test_a_multipart_part_url_signs_the_size_of_its_part(stack: None) -> None:
    # Given a declared size of two 5 MiB parts and one byte (the threshold here is 8 MiB)
    status, created = new_video(size_bytes=10 * MIB + 1)
    assert status == 201

    # Then every part URL signs its own Content-Length: the planned part size, the rest for the last
    urls = [part["url"] for part in created["upload"]["parts"]]
    assert [parse_qs(urlsplit(url).query)["X-Amz-SignedHeaders"] for url in urls] == [["content-length;host"]] * 3
    assert [_signed_length(url) for url in urls] == [5 * MIB, 5 * MIB, 1]


def _signed_length(url: str) -> int:
    """The Content-Length this part URL was signed for: the one whose signature it matches."""
    from devstack.moto_patches import presigned_signature

    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    for length in (5 * MIB, 1):
        if presigned_signature("PUT", url, {}, length, {"FOOBARKEY": "FOOBARSECRET"}) == signature:
            return length
    raise AssertionError("no planned length matches the signature")
