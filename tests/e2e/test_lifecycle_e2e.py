"""The lifecycle API through the local stack: listing a user's videos and a video's clips, fresh part
URLs for a slow multipart upload, and deletion, checked by listing the buckets and the table.

Every user is new (a uuid in the subject), so lists hold only what the test made.
"""

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from devstack.openapi import DOCUMENT
from stacktools.client import wait_for
from tests import mediafactory
from tests.clipfactory import make_source
from tests.e2e import clients

CLIP = {"start_s": 0.5, "end_s": 2.5, "mode": "accurate"}
PART_BYTES = int(mediafactory.STACK_PARAMS["MultipartPartBytes"])
MAX_PENDING = 10  # template default of MaxPendingUploads


def new_user(auth_headers: Callable[..., dict[str, str]], role: str) -> dict[str, str]:
    return auth_headers(f"{role}-{uuid.uuid4().hex[:8]}")


def list_videos(api: str, headers: dict[str, str], **params: Any) -> requests.Response:
    return requests.get(f"{api}/videos", headers=headers, params=params, timeout=30)


def list_clips(api: str, headers: dict[str, str], video_id: str, **params: Any) -> requests.Response:
    return requests.get(f"{api}/videos/{video_id}/clips", headers=headers, params=params, timeout=30)


def delete(api: str, headers: dict[str, str], path: str) -> requests.Response:
    return requests.delete(f"{api}{path}", headers=headers, timeout=60)


def all_pages(fetch: Callable[..., requests.Response], **params: Any) -> list[list[dict[str, Any]]]:
    pages, cursor = [], None
    while True:
        answer = fetch(**params, **({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def awaiting(api: str, headers: dict[str, str], name: str, size_bytes: int = 1000) -> dict[str, Any]:
    return clients.create_video(api, headers, name, "video/mp4", size_bytes)


def leftovers(stack: Any, aws_client: Callable[[str], Any], *ids: str) -> dict[str, list[Any]]:
    """Everything in the buckets (objects and unfinished multipart uploads) and the table naming one of `ids`."""
    s3, found = aws_client("s3"), {"objects": [], "multipart": [], "items": []}
    for bucket in (stack.resources["UploadsBucket"], stack.resources["ClipsBucket"]):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found["objects"] += [o["Key"] for o in page.get("Contents", []) if any(i in o["Key"] for i in ids)]
        uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        found["multipart"] += [u["Key"] for u in uploads if any(i in u["Key"] for i in ids)]
    for page in aws_client("dynamodb").get_paginator("scan").paginate(TableName=stack.resources["AppTable"]):
        found["items"] += [item for item in page["Items"] if any(i in json.dumps(item) for i in ids)]
    return found


NOTHING: dict[str, list[Any]] = {"objects": [], "multipart": [], "items": []}


@pytest.fixture(scope="module")
def ready_source(api, auth_headers, tmp_path_factory) -> tuple[dict[str, str], Any]:
    """A user and a 4 s frame-indexed MP4 file, to upload as many times as a test needs."""
    return new_user(auth_headers, "lifecycle"), make_source(tmp_path_factory.mktemp("lifecycle"), seconds=4).path


def ready_video(api: str, headers: dict[str, str], path: Any) -> str:
    video_id = clients.upload_file(api, headers, path, "video/mp4")
    assert clients.wait_for_video(api, headers, video_id)["status"] == "ready"
    return video_id


def ready_clip(api: str, headers: dict[str, str], video_id: str, body: dict[str, Any] = CLIP) -> dict[str, Any]:
    answer = clients.request_clip(api, headers, video_id, body)
    assert answer.status_code == 202, answer.text
    clip = clients.wait_for_clip(api, headers, answer.json()["clip_id"])
    assert clip["status"] == "ready", clip
    return clip


# --- listing ---------------------------------------------------------------------------------


def test_a_users_videos_are_listed_newest_first_page_by_page_and_only_theirs(api, auth_headers):
    mine, theirs = new_user(auth_headers, "lister"), new_user(auth_headers, "other")
    made = []
    for number in range(5):
        made.append(awaiting(api, mine, f"take-{number}.mp4")["video_id"])
        time.sleep(1.05)  # created_at has whole seconds: one per video makes the order certain
    awaiting(api, theirs, "not-yours.mp4")

    pages = all_pages(lambda **p: list_videos(api, mine, **p), limit=2)

    assert [len(page) for page in pages] == [2, 2, 1]
    listed = [video["video_id"] for page in pages for video in page]
    assert listed == made[::-1]
    assert {video["status"] for page in pages for video in page} == {"awaiting_upload"}
    assert "owner" not in pages[0][0] and "list_pk" not in pages[0][0], "the list shows the public view only"


def test_a_status_filter_lists_only_videos_in_that_status(api, auth_headers, ready_source):
    headers = new_user(auth_headers, "filter")
    ready_id = ready_video(api, headers, ready_source[1])
    waiting_id = awaiting(api, headers, "later.mp4")["video_id"]

    ready = list_videos(api, headers, status="ready").json()["items"]
    waiting = list_videos(api, headers, status="awaiting_upload").json()["items"]
    bad = list_videos(api, headers, status="finished")

    assert [v["video_id"] for v in ready] == [ready_id]
    assert [v["video_id"] for v in waiting] == [waiting_id]
    assert bad.status_code == 422 and clients.error_of(bad)["code"] == "validation_error"


@pytest.mark.parametrize("cursor", ["garbage", "eyJwayI6IngifQ", "", "%%%"])
def test_a_cursor_not_made_by_the_api_is_refused_with_the_error_shape(api, auth_headers, cursor):
    answer = list_videos(api, new_user(auth_headers, "cursor"), cursor=cursor)
    if cursor == "":
        assert answer.status_code == 200  # no cursor: the first page
        return
    assert answer.status_code == 422, answer.text
    assert clients.error_of(answer)["code"] == "invalid_request"


def test_a_cursor_of_someone_elses_list_cannot_open_it(api, auth_headers):
    victim, attacker = new_user(auth_headers, "victim"), new_user(auth_headers, "attacker")
    for number in range(3):
        awaiting(api, victim, f"secret-{number}.mp4")
    victims_cursor = list_videos(api, victim, limit=1).json()["next_cursor"]
    assert victims_cursor

    answer = list_videos(api, attacker, cursor=victims_cursor)

    assert answer.status_code == 422 and clients.error_of(answer)["code"] == "invalid_request"


@pytest.mark.parametrize("limit", [0, 101, "many"])
def test_a_limit_outside_1_to_100_is_refused(api, auth_headers, limit):
    answer = list_videos(api, new_user(auth_headers, "limit"), limit=limit)
    assert answer.status_code == 422 and clients.error_of(answer)["code"] == "validation_error"


def test_a_videos_clips_are_listed_newest_first_and_someone_elses_answer_404(api, auth_headers, ready_source):
    headers, path = ready_source
    video_id = ready_video(api, headers, path)
    first = ready_clip(api, headers, video_id, {"start_s": 0.0, "end_s": 1.5, "mode": "fast"})
    time.sleep(0.05)
    second = ready_clip(api, headers, video_id, {"start_s": 1.0, "end_s": 3.0, "mode": "fast"})

    pages = all_pages(lambda **p: list_clips(api, headers, video_id, **p), limit=1)
    stranger = list_clips(api, new_user(auth_headers, "stranger"), video_id)
    missing = list_clips(api, headers, "v_" + "0" * 26)

    assert [clip["clip_id"] for page in pages for clip in page] == [second["clip_id"], first["clip_id"]]
    assert all(clip["download_url"] for page in pages for clip in page)
    assert stranger.status_code == 404 and clients.error_of(stranger)["code"] == "not_found"
    assert clients.same_answer(stranger, missing, video_id, "v_" + "0" * 26)


# --- fresh part URLs -------------------------------------------------------------------------


def signed_at(url: str) -> str:
    return parse_qs(urlsplit(url).query)["X-Amz-Date"][0]


def test_fresh_part_urls_finish_a_multipart_upload(api, auth_headers, tmp_path):
    headers = new_user(auth_headers, "slow")
    path = mediafactory.make_noise_video(tmp_path / "slow.mp4", size_bytes=PART_BYTES + 1024 * 1024, duration_s=4.0)
    data = path.read_bytes()
    created = clients.create_video(api, headers, path.name, "video/mp4", len(data))
    time.sleep(1.1)  # URLs are signed to the second

    answer = requests.post(f"{api}/videos/{created['video_id']}/upload-urls", headers=headers, timeout=30)

    assert answer.status_code == 200, answer.text
    fresh = answer.json()
    assert fresh["upload_id"] == created["upload"]["upload_id"]
    assert [p["part_number"] for p in fresh["parts"]] == [1, 2]
    assert signed_at(fresh["parts"][0]["url"]) > signed_at(created["upload"]["parts"][0]["url"])
    assert fresh["expires_at"] > created["upload"]["expires_at"]
    parts = clients.put_parts({**created, "upload": fresh}, data)
    assert clients.complete(api, headers, created["video_id"], parts).status_code == 200
    assert clients.wait_for_video(api, headers, created["video_id"])["status"] == "ready"
    after = requests.post(f"{api}/videos/{created['video_id']}/upload-urls", headers=headers, timeout=30)
    assert after.status_code == 409 and clients.error_of(after)["code"] == "conflict"


def test_fresh_part_urls_are_refused_for_a_form_upload_and_for_someone_elses_video(api, auth_headers):
    headers = new_user(auth_headers, "form")
    video_id = awaiting(api, headers, "small.mp4")["video_id"]

    form = requests.post(f"{api}/videos/{video_id}/upload-urls", headers=headers, timeout=30)
    stranger = requests.post(f"{api}/videos/{video_id}/upload-urls", headers=new_user(auth_headers, "x"), timeout=30)

    assert form.status_code == 409 and clients.error_of(form)["code"] == "conflict"
    assert stranger.status_code == 404 and clients.error_of(stranger)["code"] == "not_found"


# --- deletion --------------------------------------------------------------------------------


def test_deleting_a_ready_video_leaves_nothing_of_it_or_its_clips(api, auth_headers, stack, aws_client, ready_source):
    headers, path = ready_source
    video_id = ready_video(api, headers, path)
    clip_ids = [ready_clip(api, headers, video_id, body)["clip_id"] for body in (CLIP, {**CLIP, "mode": "fast"})]
    assert leftovers(stack, aws_client, video_id)["objects"], "the source and the clips are in the buckets"

    answer = delete(api, headers, f"/videos/{video_id}")

    assert answer.status_code == 202, answer.text
    assert answer.json() == {"id": video_id, "deleted": True}
    assert clients.get_video(api, headers, video_id).status_code == 404
    assert all(clients.get_clip(api, headers, clip_id).status_code == 404 for clip_id in clip_ids)
    assert video_id not in {v["video_id"] for v in list_videos(api, headers).json()["items"]}
    assert leftovers(stack, aws_client, video_id, *clip_ids) == NOTHING
    again = delete(api, headers, f"/videos/{video_id}")
    assert again.status_code == 404 and clients.error_of(again)["code"] == "not_found"


def test_deleting_a_rejected_video_removes_its_quarantine_copy(api, auth_headers, stack, aws_client, tmp_path):
    headers = new_user(auth_headers, "rejected")
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    video_id = clients.upload_file(api, headers, path, "video/mp4")
    assert clients.wait_for_video(api, headers, video_id)["status"] == "rejected"
    assert leftovers(stack, aws_client, video_id)["objects"] == [f"quarantine/{video_id}"]

    assert delete(api, headers, f"/videos/{video_id}").status_code == 202

    assert leftovers(stack, aws_client, video_id) == NOTHING


def test_deleting_an_unfinished_multipart_upload_aborts_it(api, auth_headers, stack, aws_client):
    headers = new_user(auth_headers, "abandon")
    created = clients.create_video(api, headers, "big.mp4", "video/mp4", PART_BYTES + 1024)
    first = created["upload"]["parts"][0]
    assert requests.put(first["url"], data=b"\0" * PART_BYTES, timeout=60).status_code == 200
    assert leftovers(stack, aws_client, created["video_id"])["multipart"]

    assert delete(api, headers, f"/videos/{created['video_id']}").status_code == 202

    assert leftovers(stack, aws_client, created["video_id"]) == NOTHING


def test_deleting_a_waiting_upload_frees_its_pending_slot(api, auth_headers):
    headers = new_user(auth_headers, "pending")
    ids = [awaiting(api, headers, f"p{n}.mp4")["video_id"] for n in range(MAX_PENDING)]
    refused = requests.post(
        f"{api}/videos",
        headers=headers,
        timeout=30,
        json={"filename": "one-more.mp4", "content_type": "video/mp4", "size_bytes": 1000},
    )
    assert refused.status_code == 429, refused.text

    assert delete(api, headers, f"/videos/{ids[0]}").status_code == 202

    assert awaiting(api, headers, "one-more.mp4")["status"] == "awaiting_upload"
    again = requests.post(
        f"{api}/videos",
        headers=headers,
        timeout=30,
        json={"filename": "too-many.mp4", "content_type": "video/mp4", "size_bytes": 1000},
    )
    assert again.status_code == 429, "a delete frees one slot, not the quota"


def test_someone_elses_delete_answers_404_like_a_missing_video_and_deletes_nothing(
    api, auth_headers, stack, aws_client
):
    owner = new_user(auth_headers, "keeper")
    video_id = awaiting(api, owner, "mine.mp4")["video_id"]
    missing = "v_" + "1" * 26

    theirs = delete(api, new_user(auth_headers, "eraser"), f"/videos/{video_id}")
    absent = delete(api, owner, f"/videos/{missing}")

    assert theirs.status_code == 404 and clients.same_answer(theirs, absent, video_id, missing)
    assert clients.get_video(api, owner, video_id).status_code == 200
    assert leftovers(stack, aws_client, video_id)["items"]


def test_deleting_a_clip_removes_it_and_keeps_the_video_and_its_other_clips(
    api, auth_headers, stack, aws_client, ready_source
):
    headers, path = ready_source
    video_id = ready_video(api, headers, path)
    gone = ready_clip(api, headers, video_id, {"start_s": 0.0, "end_s": 2.0, "mode": "fast"})
    kept = ready_clip(api, headers, video_id, {"start_s": 2.0, "end_s": 4.0, "mode": "fast"})

    stranger = delete(api, new_user(auth_headers, "x"), f"/clips/{gone['clip_id']}")
    answer = delete(api, headers, f"/clips/{gone['clip_id']}")

    assert stranger.status_code == 404
    assert answer.status_code == 202 and answer.json() == {"id": gone["clip_id"], "deleted": True}
    assert clients.get_clip(api, headers, gone["clip_id"]).status_code == 404
    assert [c["clip_id"] for c in list_clips(api, headers, video_id).json()["items"]] == [kept["clip_id"]]
    assert leftovers(stack, aws_client, gone["clip_id"]) == NOTHING
    assert leftovers(stack, aws_client, kept["clip_id"])["objects"]
    assert delete(api, headers, f"/clips/{gone['clip_id']}").status_code == 404


def test_a_clip_being_cut_when_it_is_deleted_never_reappears(api, auth_headers, stack, aws_client, ready_source):
    headers, path = ready_source
    video_id = ready_video(api, headers, path)
    answer = clients.request_clip(api, headers, video_id, {"start_s": 0.2, "end_s": 3.8, "mode": "accurate"})
    clip_id = answer.json()["clip_id"]
    wait_for(lambda: clients.get_clip(api, headers, clip_id).json()["status"] == "processing", interval_s=0.02)

    assert delete(api, headers, f"/clips/{clip_id}").status_code == 202

    clients.assert_pipeline_drained(stack, aws_client("sqs"))
    assert clients.get_clip(api, headers, clip_id).status_code == 404
    assert leftovers(stack, aws_client, clip_id) == NOTHING


def test_clips_in_flight_for_a_deleted_video_never_reappear(api, auth_headers, stack, aws_client, ready_source):
    headers, path = ready_source
    video_id = ready_video(api, headers, path)
    bodies = [{"start_s": 0.1 * n, "end_s": 3.0, "mode": "accurate"} for n in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        asked = list(pool.map(lambda body: clients.request_clip(api, headers, video_id, body), bodies))
    clip_ids = [answer.json()["clip_id"] for answer in asked if answer.status_code == 202]
    assert clip_ids

    assert delete(api, headers, f"/videos/{video_id}").status_code == 202
    late = clients.request_clip(api, headers, video_id, CLIP)

    assert late.status_code == 404
    clients.assert_pipeline_drained(stack, aws_client("sqs"))
    assert leftovers(stack, aws_client, video_id, *clip_ids) == NOTHING


# --- the API document ------------------------------------------------------------------------


def test_the_local_api_serves_its_document_and_a_swagger_ui_page_without_a_token(api):
    document = requests.get(f"{api}/openapi.json", timeout=30)
    page = requests.get(f"{api}/docs", timeout=30)
    script = requests.get(f"{api}/docs/swagger-ui-bundle.js", timeout=30)

    assert document.status_code == 200 and document.content == DOCUMENT.read_bytes()
    assert page.status_code == 200 and "/openapi.json" in page.text and "//" not in page.text.replace("://", "")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text
    assert requests.get(f"{api}/docs/../template.yaml", timeout=30).status_code == 404
