"""Nothing a client does overshoots a quota or changes what was validated (issue 19), through the local stack.

Each test is an attack found by the outside test: oversized multipart parts, a completion naming
fewer bytes than declared, parallel requests racing the pending-upload quota, and an upload form
reused to overwrite a validated video.
"""

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.launcher import RunningStack, start_stack
from stacktools.client import wait_for
from tests import mediafactory
from tests.e2e import clients

PART_BYTES = int(mediafactory.STACK_PARAMS["MultipartPartBytes"])


def user(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def uploads_keys(stack, aws_client, prefix: str) -> set[str]:
    listed = aws_client("s3").list_objects_v2(Bucket=stack.resources["UploadsBucket"], Prefix=prefix)
    return {item["Key"] for item in listed.get("Contents", [])}


def log_records(stack, function: str) -> list[dict[str, Any]]:
    lines = (Path(stack.description["logs_dir"]) / f"{function}.log").read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_a_part_larger_than_its_planned_size_is_refused_by_s3(api, auth_headers):
    # Given a multipart upload of three parts (5 MiB, 5 MiB, 1 byte)
    created = clients.create_video(api, auth_headers(user("bigpart")), "big.mp4", "video/mp4", 2 * PART_BYTES + 1)
    first, last = created["upload"]["parts"][0], created["upload"]["parts"][-1]

    # When the client sends more bytes than each part was planned for, or fewer
    bigger = requests.put(first["url"], data=b"\0" * (PART_BYTES + 1024 * 1024), timeout=60)
    smaller = requests.put(last["url"], data=b"", timeout=60)
    exact = requests.put(first["url"], data=b"\0" * PART_BYTES, timeout=60)

    # Then S3 refuses them (the URL signed the part's Content-Length) and takes the planned size
    assert bigger.status_code == 403, bigger.text
    assert smaller.status_code == 403, smaller.text
    assert exact.status_code == 200, exact.text


def test_completing_with_fewer_bytes_than_declared_is_refused_before_anything_is_assembled(
    stack, api, auth_headers, aws_client
):
    # Given a three-part upload whose first two parts were sent
    headers = auth_headers(user("short"))
    size = 2 * PART_BYTES + 1
    data = b"\1" * size
    created = clients.create_video(api, headers, "big.mp4", "video/mp4", size)
    parts = clients.put_parts(created, data)

    # When the client completes it with only the first two parts
    short = clients.complete(api, headers, created["video_id"], parts[:2])

    # Then it is refused, naming both sizes, and no object was assembled under uploads/
    assert short.status_code == 422, short.text
    error = clients.error_of(short)
    assert error["code"] == "size_mismatch"
    assert error["details"] == {"declared_bytes": size, "uploaded_bytes": 2 * PART_BYTES}
    assert f"uploads/{created['video_id']}" not in uploads_keys(stack, aws_client, "uploads/")
    assert clients.get_video(api, headers, created["video_id"]).json()["status"] == "awaiting_upload"
    # and completing with every part still works
    assert clients.complete(api, headers, created["video_id"], parts).status_code == 200


@pytest.fixture(scope="module")
def racing_stack(tmp_path_factory) -> Iterator[RunningStack]:
    """A stack whose upload API runs 8 environments at once, as Lambda would for 8 parallel requests."""
    running = start_stack(
        tmp_path_factory.mktemp("racing-stack"), params=mediafactory.STACK_PARAMS, env={"LOCAL_CONCURRENCY": "8"}
    )
    yield running
    running.stop()


def test_parallel_requests_at_five_times_the_pending_limit_never_leave_more_pending_than_allowed(
    racing_stack, auth_headers
):
    # Given a user with no upload yet, and 5x MaxPendingUploads requests sent 8 at a time
    allowed = int(racing_stack.description["parameters"]["MaxPendingUploads"])
    headers = auth_headers(user("racer"))
    body = {"filename": "race.mp4", "content_type": "video/mp4", "size_bytes": 1000}

    def ask(_: int) -> requests.Response:
        return requests.post(f"{racing_stack.api_url}/videos", headers=headers, json=body, timeout=60)

    def warm(_: int) -> int:  # cold starts of 8 environments at once would outlast the API's 15 s timeout here
        return requests.get(f"{racing_stack.api_url}/videos/{'0' * 32}", headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(warm, range(8))) == {404}

    # When they all race
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(5 * allowed)))

    # Then exactly MaxPendingUploads were issued and every other one answered 429 pending_uploads
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == allowed, statuses
    refused = [a for a in answers if a.status_code != 201]
    assert all(a.status_code == 429 for a in refused), [a.text for a in refused]
    assert {clients.error_of(a)["details"]["quota"] for a in refused} == {"pending_uploads"}


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("limits-media")
    return {
        "good": mediafactory.make_video(directory / "good.mp4", duration_s=3.0),
        "other": mediafactory.make_video(directory / "other.mp4", duration_s=3.0, size="160x120"),
    }


def test_a_validated_video_overwritten_through_its_upload_form_stays_clippable(
    stack, api, auth_headers, aws_client, media
):
    # Given a video uploaded with its presigned POST and validated ready
    owner = user("overwriter")
    headers = auth_headers(owner)
    data = media["good"].read_bytes()
    created = clients.create_video(api, headers, "good.mp4", "video/mp4", len(data))
    assert clients.post_upload(created["upload"], data, "good.mp4", "video/mp4").status_code in (200, 201, 204)
    video_id = created["video_id"]
    assert clients.wait_for_video(api, headers, video_id)["status"] == "ready"

    # When the owner reuses the still valid form to write other bytes over it
    other = media["other"].read_bytes()[: len(data)]
    assert clients.post_upload(created["upload"], other, "good.mp4", "video/mp4").status_code in (200, 201, 204)

    def replaced() -> list[dict[str, Any]]:
        return [
            r
            for r in log_records(stack, "ValidateFunction")
            if r.get("security_event") == "object_replaced" and r.get("video_id") == video_id
        ]

    events = wait_for(replaced, timeout_s=60)

    # Then the video stays ready, a clip is cut from the validated bytes, and the event names the owner
    assert clients.get_video(api, headers, video_id).json()["status"] == "ready"
    answer = clients.request_clip(api, headers, video_id, {"start_s": 0.5, "end_s": 2.0, "mode": "accurate"})
    assert answer.status_code == 202, answer.text
    clip = clients.wait_for_clip(api, headers, answer.json()["clip_id"])
    assert clip["status"] == "ready", clip["error"]
    cut = requests.get(clip["download_url"], timeout=30).content
    assert b"avc1" in cut  # an MP4 of the H.264 source, not a failure or the overwrite's bytes
    assert clip["actual"]["duration_s"] == pytest.approx(1.5, abs=0.05)
    assert {e.get("owner") for e in events} == {owner}


def test_a_rejection_security_event_names_the_owner(stack, api, auth_headers, media):
    # Given a file uploaded with a declared size larger than the file (the POST policy allows fewer bytes)
    owner = user("mismatch-owner")
    headers = auth_headers(owner)
    data = media["good"].read_bytes()
    video_id = clients.upload_file(api, headers, media["good"], "video/mp4", declared_size=len(data) + 1)

    # When validation rejects it as size_mismatch
    video = clients.wait_for_video(api, headers, video_id)
    assert video["rejection"]["code"] == "size_mismatch"

    # Then its security event carries the owner, as the runbook groups them by owner
    events = [
        r
        for r in log_records(stack, "ValidateFunction")
        if r.get("security_event") == "size_mismatch" and r.get("video_id") == video_id
    ]
    assert [e.get("owner") for e in events] == [owner]
