"""What the app does over HTTP against the local stack: ask for uploads, upload, poll, ask for clips.

Shared by the upload and clip e2e modules. Everything goes through the API and the presigned URLs
it hands out (moto's S3 over HTTP), never through the handlers in process.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from stacktools.client import DONE_CLIP, DONE_VIDEO, wait_for


def create_video(api: str, headers: dict[str, str], filename: str, content_type: str, size_bytes: int) -> dict:
    answer = requests.post(
        f"{api}/videos",
        headers=headers,
        timeout=30,
        json={"filename": filename, "content_type": content_type, "size_bytes": size_bytes},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def post_upload(upload: dict[str, Any], data: bytes, filename: str, content_type: str) -> requests.Response:
    """The browser's form POST: the policy's fields, then the file last."""
    assert upload["method"] == "POST"
    return requests.post(
        upload["url"], data=upload["fields"], timeout=60, files={"file": (filename, data, content_type)}
    )


def put_parts(created: dict[str, Any], data: bytes) -> list[dict[str, Any]]:
    """PUT every part to its presigned URL; the parts with the ETags S3 answered."""
    upload = created["upload"]
    assert upload["method"] == "MULTIPART"
    size = upload["part_size"]
    parts = []
    for part in upload["parts"]:
        start = (part["part_number"] - 1) * size
        answer = requests.put(part["url"], data=data[start : start + size], timeout=60)
        assert answer.status_code == 200, answer.text
        parts.append({"part_number": part["part_number"], "etag": answer.headers["ETag"]})
    return parts


def multipart_upload(api: str, headers: dict[str, str], created: dict[str, Any], data: bytes) -> requests.Response:
    """PUT every part to its URL, then POST /videos/{id}/complete with the ETags S3 answered."""
    return complete(api, headers, created["video_id"], put_parts(created, data))


def complete(api: str, headers: dict[str, str], video_id: str, parts: list[dict[str, Any]]) -> requests.Response:
    return requests.post(f"{api}/videos/{video_id}/complete", headers=headers, json={"parts": parts}, timeout=30)


def upload_file(
    api: str, headers: dict[str, str], path: Path, content_type: str, declared_size: int | None = None
) -> str:
    """Ask for an upload of `path` and send its bytes by whatever method the API chose; the video id."""
    data = path.read_bytes()
    created = create_video(api, headers, path.name, content_type, declared_size or max(len(data), 1))
    if created["upload"]["method"] == "POST":
        answer = post_upload(created["upload"], data, path.name, content_type)
        assert answer.status_code in (200, 201, 204), answer.text
    else:
        answer = multipart_upload(api, headers, created, data)
        assert answer.status_code == 200, answer.text
    return str(created["video_id"])


def get_video(api: str, headers: dict[str, str], video_id: str) -> requests.Response:
    return requests.get(f"{api}/videos/{video_id}", headers=headers, timeout=30)


def _settled(fetch: Callable[[], requests.Response], done: tuple[str, ...]) -> Callable[[], dict | None]:
    def probe() -> dict | None:
        answer = fetch()
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return body if body["status"] in done else None

    return probe


def wait_for_video(api: str, headers: dict[str, str], video_id: str, timeout_s: float = 90) -> dict:
    """The video once validation has decided (ready or rejected)."""
    return wait_for(_settled(lambda: get_video(api, headers, video_id), DONE_VIDEO), timeout_s=timeout_s)


def request_clip(api: str, headers: dict[str, str], video_id: str, body: Any) -> requests.Response:
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
    return requests.post(f"{api}/videos/{video_id}/clips", headers=headers, timeout=30, **kwargs)


def get_clip(api: str, headers: dict[str, str], clip_id: str) -> requests.Response:
    return requests.get(f"{api}/clips/{clip_id}", headers=headers, timeout=30)


def wait_for_clip(api: str, headers: dict[str, str], clip_id: str, timeout_s: float = 90) -> dict:
    """The clip once the worker is done with it (ready or failed)."""
    return wait_for(_settled(lambda: get_clip(api, headers, clip_id), DONE_CLIP), timeout_s=timeout_s)


def error_of(answer: requests.Response) -> dict[str, Any]:
    """The API's error object, after checking the contract's shape."""
    body = answer.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


def same_answer(mine: requests.Response, theirs: requests.Response, my_id: str, their_id: str) -> bool:
    """Whether two answers are identical once each one's own requested id is blanked out (errors may echo it)."""
    blanked_mine = (mine.status_code, mine.text.replace(my_id, "<id>"))
    return blanked_mine == (theirs.status_code, theirs.text.replace(their_id, "<id>"))


def queue_counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def assert_pipeline_drained(stack: Any, sqs: Any, timeout_s: float = 45) -> None:
    """IngestQueue and ClipQueue empty (nothing failing and coming back), IngestDLQ and ClipDLQ holding nothing.

    A failing message cycles through its queue (visibility timeout 30 s, maxReceiveCount 5) long
    before it reaches the DLQ, so an empty DLQ alone would prove little within a short suite: the
    work queues must be empty too.
    """
    queues = {name: stack.resources[name] for name in ("IngestQueue", "ClipQueue", "IngestDLQ", "ClipDLQ")}

    def counts() -> dict[str, tuple[int, int]]:
        return {name: queue_counts(sqs, url) for name, url in queues.items()}

    def drained() -> dict[str, tuple[int, int]] | None:
        now = counts()
        return now if all(now[name] == (0, 0) for name in ("IngestQueue", "ClipQueue")) else None

    try:
        wait_for(drained, timeout_s=timeout_s, interval_s=0.5)
    except AssertionError as failure:
        raise AssertionError(f"work queues not drained: {counts()}") from failure
    now = counts()
    assert now["IngestDLQ"] == (0, 0), now
    assert now["ClipDLQ"] == (0, 0), now
