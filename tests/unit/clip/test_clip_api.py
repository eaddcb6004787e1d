"""The clip API handler with its data access faked: status codes, answer shapes, error codes."""

import json
from typing import Any

import pytest

from practika import settings
from practika.clips import store as clip_store
from practika.clips.model import Clip, ClipStatus
from practika.errors import NotFound, QuotaExceeded
from practika.videos import store as video_store
from practika.videos.model import MediaFacts, Video, VideoStatus

VIDEO = Video(
    video_id="vid_1",
    owner="user-alice",
    status=VideoStatus.READY,
    filename="a.mp4",
    content_type="video/mp4",
    size_bytes=1000,
    created_at="2026-11-26T12:00:00+00:00",
    updated_at="2026-11-26T12:00:00+00:00",
    media=MediaFacts(
        container="mp4", duration_s=10, size_bytes=1000, width=640, height=360, fps=25, video_codec="h264"
    ),
)


class FakeStore:
    def __init__(self) -> None:
        self.clips: dict[str, Clip] = {}
        self.sent: list[str] = []
        self.quota_left = 100

    def get_clip(self, clip_id: str) -> Clip | None:
        return self.clips.get(clip_id)

    def get_owned_clip(self, clip_id: str, owner: str) -> Clip:
        clip = self.clips.get(clip_id)
        if clip is None or clip.owner != owner:
            raise NotFound("no such clip", details={"clip_id": clip_id})
        return clip

    def create_clip(self, clip: Clip, *, max_per_day: int) -> tuple[Clip, bool]:
        if clip.clip_id in self.clips:
            return self.clips[clip.clip_id], False
        if self.quota_left <= 0:
            raise QuotaExceeded("daily clip quota reached")
        self.quota_left -= 1
        self.clips[clip.clip_id] = clip
        return clip, True

    def clips_today(self, owner: str) -> int:
        return 100 - self.quota_left  # MAX_CLIPS_PER_DAY's default

    def enqueue(self, queue_url: str, clip_id: str) -> None:
        self.sent.append(clip_id)

    def presign_download(self, clip: Clip, key: str, *, expires_s: int) -> str:
        return f"https://clips.example/{key}?sig"


@pytest.fixture
def store(monkeypatch) -> FakeStore:
    monkeypatch.setenv("CLIP_QUEUE_URL", "https://sqs.example/clip-queue")
    monkeypatch.setenv("MIN_CLIP_SECONDS", "1")
    monkeypatch.setenv("MAX_CLIP_SECONDS", "5")
    settings.reset()
    fake = FakeStore()
    for name in ("get_clip", "get_owned_clip", "create_clip", "clips_today", "enqueue", "presign_download"):
        monkeypatch.setattr(clip_store, name, getattr(fake, name))

    def get_owned(video_id: str, owner: str) -> video_store.StoredVideo:
        if video_id != VIDEO.video_id or owner != VIDEO.owner:
            raise NotFound("no such video", details={"video_id": video_id})
        return video_store.StoredVideo(VIDEO, upload_id=None, object_etag="etag")

    monkeypatch.setattr(video_store, "get_owned", get_owned)
    yield fake
    settings.reset()


def post(event: Any, context: Any, body: Any, video_id: str = "vid_1", sub: str = "user-alice") -> tuple[int, dict]:
    from clip import api

    request = event("api-post-clip.json")
    request["rawPath"] = request["requestContext"]["http"]["path"] = f"/videos/{video_id}/clips"
    request["pathParameters"] = {"video_id": video_id}
    request["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = sub
    request["body"] = body if isinstance(body, str) else json.dumps(body)
    answer = api.handler(request, context)
    return answer["statusCode"], json.loads(answer["body"])


def get(event: Any, context: Any, clip_id: str, sub: str = "user-alice") -> tuple[int, dict]:
    from clip import api

    request = event("api-get-clip.json")
    request["rawPath"] = request["requestContext"]["http"]["path"] = f"/clips/{clip_id}"
    request["pathParameters"] = {"clip_id": clip_id}
    request["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = sub
    answer = api.handler(request, context)
    return answer["statusCode"], json.loads(answer["body"])


def test_a_new_clip_is_queued_and_answers_202(store, event, lambda_context):
    status, body = post(event, lambda_context, {"start_s": 1, "end_s": 3, "mode": "accurate"})

    assert status == 202
    assert body["status"] == "queued" and body["video_id"] == "vid_1"
    assert body["requested"] == {"start_s": 1.0, "end_s": 3.0, "mode": "accurate"}
    assert body["actual"] is None and body["download_url"] is None and body["error"] is None
    assert store.sent == [body["clip_id"]]


def test_asking_again_answers_200_with_the_same_clip_and_queues_nothing(store, event, lambda_context):
    _, first = post(event, lambda_context, {"start_s": 1, "end_s": 3, "mode": "fast"})
    status, again = post(event, lambda_context, {"start_s": 1, "end_s": 3, "mode": "fast"})

    assert status == 200 and again["clip_id"] == first["clip_id"]
    assert store.sent == [first["clip_id"]]


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"start_s": 3, "end_s": 1, "mode": "fast"}, 422, "invalid_range"),
        ({"start_s": 8, "end_s": 11, "mode": "fast"}, 422, "range_beyond_video"),
        ({"start_s": 1, "end_s": 1.5, "mode": "fast"}, 422, "clip_too_short"),
        ({"start_s": 0, "end_s": 6, "mode": "fast"}, 422, "clip_too_long"),
        ({"start_s": 0, "end_s": 2, "mode": "sloppy"}, 422, "validation_error"),
        ({"start_s": 0, "mode": "fast"}, 422, "validation_error"),
        ("{not json", 422, "invalid_json"),
    ],
)
def test_an_invalid_request_gets_a_clear_4xx(store, event, lambda_context, body, status, code):
    answer_status, answer = post(event, lambda_context, body)

    assert (answer_status, answer["error"]["code"]) == (status, code)
    assert store.sent == []


def test_another_users_video_answers_404(store, event, lambda_context):
    status, body = post(event, lambda_context, {"start_s": 1, "end_s": 3, "mode": "fast"}, sub="user-mallory")
    assert (status, body["error"]["code"]) == (404, "not_found")


def test_a_video_not_ready_answers_409(store, event, lambda_context, monkeypatch):
    waiting = VIDEO.model_copy(update={"status": VideoStatus.VALIDATING, "media": None})
    monkeypatch.setattr(video_store, "get_owned", lambda video_id, owner: video_store.StoredVideo(waiting, None, None))

    status, body = post(event, lambda_context, {"start_s": 1, "end_s": 3, "mode": "fast"})

    assert (status, body["error"]["code"]) == (409, "video_not_ready")


def test_the_daily_quota_answers_429_and_queues_no_job(store, event, lambda_context):
    # A job sent for a refused clip would hold a clip worker waiting for a record that never comes.
    store.quota_left = 0
    status, body = post(event, lambda_context, {"start_s": 1, "end_s": 3, "mode": "fast"})
    assert (status, body["error"]["code"]) == (429, "quota_exceeded")
    assert store.sent == []


def test_a_ready_clip_shows_its_times_and_a_download_url(store, event, lambda_context):
    _, created = post(event, lambda_context, {"start_s": 1, "end_s": 3, "mode": "fast"})
    clip = store.clips[created["clip_id"]]
    store.clips[clip.clip_id] = clip.model_copy(
        update={"status": ClipStatus.READY, "actual": {"start_s": 1.0, "end_s": 3.04, "duration_s": 2.04}}
    )

    status, body = get(event, lambda_context, clip.clip_id)

    assert status == 200 and body["status"] == "ready"
    assert body["actual"] == {"start_s": 1.0, "end_s": 3.04, "duration_s": 2.04}
    assert body["download_url"].startswith("https://clips.example/clips/vid_1/")


def test_a_failed_clip_shows_its_error_and_no_url(store, event, lambda_context):
    _, created = post(event, lambda_context, {"start_s": 1, "end_s": 3, "mode": "fast"})
    clip = store.clips[created["clip_id"]]
    store.clips[clip.clip_id] = clip.model_copy(
        update={"status": ClipStatus.FAILED, "error": {"code": "cut_failed", "message": "ffmpeg could not cut"}}
    )

    _, body = get(event, lambda_context, clip.clip_id)

    assert body["error"]["code"] == "cut_failed" and body["download_url"] is None


def test_someone_elses_clip_answers_exactly_like_a_missing_one(store, event, lambda_context):
    _, created = post(event, lambda_context, {"start_s": 1, "end_s": 3, "mode": "fast"})

    theirs = get(event, lambda_context, created["clip_id"], sub="user-mallory")
    missing = get(event, lambda_context, "f" * 32, sub="user-mallory")

    assert theirs[0] == missing[0] == 404
    assert theirs[1]["error"]["message"] == missing[1]["error"]["message"]
