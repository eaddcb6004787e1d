"""App events and signed webhooks through the local stack: every state change published from
AppTable's stream, delivered to the webhook sink signed (Standard Webhooks, LOCAL_WEBHOOK_SECRET),
once per event id even when the pipeline sees duplicates, retried through sink failures (honouring
Retry-After), and parked in WebhookDLQ when the sink never recovers (retry window 15 s here).
"""

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook

from devstack.__main__ import DEFAULT_WEBHOOK_SECRET
from practika.events import signing
from stacktools.client import wait_for
from tests.clipfactory import make_source
from tests.e2e import clients

CLIP = {"start_s": 0.5, "end_s": 2.5, "mode": "fast"}


def deliveries(stack: Any) -> list[dict[str, Any]]:
    path = Path(stack.description["webhook_log"])
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def of_resource(stack: Any, *ids: str) -> list[dict[str, Any]]:
    return [d for d in deliveries(stack) if d["body"]["data"].get("clip_id", d["body"]["data"]["video_id"]) in ids]


def accepted_types(stack: Any, *ids: str) -> list[str]:
    """Event types delivered (answered 2xx) for these resources, once per event id, in order of arrival."""
    seen: dict[str, str] = {}
    for delivery in of_resource(stack, *ids):
        if delivery["status"] < 300:
            seen.setdefault(delivery["body"]["id"], delivery["body"]["type"])
    return list(seen.values())


def control(stack: Any, **command: Any) -> None:
    answer = requests.post(f"{stack.description['webhook_sink_url']}/_control", json=command, timeout=10)
    assert answer.status_code == 200


@pytest.fixture
def sink_recovers(stack) -> Iterator[None]:
    yield
    control(stack, times=0)


def raw_body(delivery: dict[str, Any]) -> bytes:
    """The bytes that were posted (the sink records them parsed; the sender writes compact JSON)."""
    return json.dumps(delivery["body"], separators=(",", ":"), ensure_ascii=False).encode()


def verified(delivery: dict[str, Any]) -> bool:
    stamp = int(delivery["headers"]["webhook-timestamp"])
    return signing.verify(DEFAULT_WEBHOOK_SECRET, delivery["headers"], raw_body(delivery), now=stamp)


def deleted_video(api: str, headers: dict[str, str]) -> str:
    """A video asked for and deleted at once: one video.deleted event, nothing else."""
    video_id = clients.create_video(api, headers, "gone.mp4", "video/mp4", 1000)["video_id"]
    assert requests.delete(f"{api}/videos/{video_id}", headers=headers, timeout=30).status_code == 202
    return str(video_id)


def resend_upload_event(aws_client: Callable[[str], Any], stack: Any, video_id: str) -> None:
    """The S3 notification of an upload, delivered again (S3 delivers at least once)."""
    s3 = aws_client("s3")
    bucket = stack.resources["UploadsBucket"]
    # The upload's bytes, kept on validation as validated/<video_id>/<etag>.
    kept = s3.list_objects_v2(Bucket=bucket, Prefix=f"validated/{video_id}/")["Contents"][0]["Key"]
    head = s3.head_object(Bucket=bucket, Key=kept)
    record = {
        "eventName": "ObjectCreated:Post",
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": f"uploads/{video_id}", "size": head["ContentLength"], "eTag": head["ETag"].strip('"')},
        },
    }
    body = json.dumps({"Records": [record]})
    aws_client("sqs").send_message(QueueUrl=stack.resources["IngestQueue"], MessageBody=body)


def test_every_state_change_is_delivered_once_signed_even_after_duplicates(
    api, auth_headers, stack, aws_client, tmp_path
):
    headers = auth_headers(f"events-{uuid.uuid4().hex[:8]}")
    source = make_source(tmp_path, seconds=4).path
    video_id = clients.upload_file(api, headers, source, "video/mp4")
    assert clients.wait_for_video(api, headers, video_id)["status"] == "ready"
    first = clients.request_clip(api, headers, video_id, CLIP)
    again = clients.request_clip(api, headers, video_id, CLIP)  # the same clip: no second one
    clip_id = first.json()["clip_id"]
    assert again.json()["clip_id"] == clip_id
    assert clients.wait_for_clip(api, headers, clip_id)["status"] == "ready"
    resend_upload_event(aws_client, stack, video_id)
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 50)
    rejected_id = clients.upload_file(api, headers, notes, "video/mp4")
    assert clients.wait_for_video(api, headers, rejected_id)["status"] == "rejected"
    assert requests.delete(f"{api}/videos/{video_id}", headers=headers, timeout=60).status_code == 202

    expected = ["video.uploaded", "video.ready", "clip.ready", "video.deleted"]
    wait_for(lambda: len(accepted_types(stack, video_id, clip_id)) >= len(expected), timeout_s=60)
    wait_for(lambda: len(accepted_types(stack, rejected_id)) >= 2, timeout_s=60)
    clients.assert_pipeline_drained(stack, aws_client("sqs"))
    time.sleep(2)  # a duplicate event, if any were published, would arrive by now

    # Exactly once each; not in order: deliveries run in parallel, an app orders by `occurred_at`.
    assert sorted(accepted_types(stack, video_id, clip_id)) == sorted(expected)
    assert sorted(accepted_types(stack, rejected_id)) == ["video.rejected", "video.uploaded"]
    mine = of_resource(stack, video_id, clip_id, rejected_id)
    assert all(verified(d) for d in mine)
    reference = Webhook(DEFAULT_WEBHOOK_SECRET)  # the scheme's own library, as the app's receiver uses it
    assert all(reference.verify(raw_body(d), d["headers"]) == d["body"] for d in mine)
    assert all(d["headers"]["webhook-id"] == d["body"]["id"] for d in mine)
    assert all(d["body"]["schema_version"] == 1 for d in mine)
    ready = next(d["body"] for d in mine if d["body"]["type"] == "clip.ready")
    assert ready["data"]["clip_id"] == clip_id and ready["data"]["download_url"] is None
    assert "owner" not in json.dumps([d["body"] for d in mine])


def test_a_delivery_with_another_secret_or_a_changed_body_does_not_verify(api, auth_headers, stack):
    video_id = deleted_video(api, auth_headers(f"forger-{uuid.uuid4().hex[:8]}"))
    delivery = wait_for(lambda: next(iter(of_resource(stack, video_id)), None), timeout_s=30)
    body = json.dumps(delivery["body"], separators=(",", ":")).encode()
    stamp = int(delivery["headers"]["webhook-timestamp"])

    assert signing.verify(DEFAULT_WEBHOOK_SECRET, delivery["headers"], body, now=stamp)
    assert not signing.verify(signing.new_secret(), delivery["headers"], body, now=stamp)
    forged = body.replace(b"deleted", b"ready")
    assert not signing.verify(DEFAULT_WEBHOOK_SECRET, delivery["headers"], forged, now=stamp)


def test_a_failing_sink_gets_the_same_event_again_until_it_accepts_it(api, auth_headers, stack, sink_recovers):
    control(stack, status=503, times=2)
    video_id = deleted_video(api, auth_headers(f"flaky-{uuid.uuid4().hex[:8]}"))

    wait_for(lambda: any(d["status"] == 200 for d in of_resource(stack, video_id)), timeout_s=60)

    attempts = of_resource(stack, video_id)
    assert [d["status"] for d in attempts] == [503, 503, 200]
    assert len({d["headers"]["webhook-id"] for d in attempts}) == 1, "a retry keeps the event id"
    assert all(verified(d) for d in attempts)


def test_a_sinks_retry_after_is_honoured(api, auth_headers, stack, sink_recovers):
    control(stack, status=429, times=1, retry_after=4)
    video_id = deleted_video(api, auth_headers(f"busy-{uuid.uuid4().hex[:8]}"))
    wait_for(lambda: of_resource(stack, video_id), timeout_s=30, interval_s=0.05)
    refused_at = time.monotonic()

    wait_for(lambda: len(of_resource(stack, video_id)) >= 2, timeout_s=30, interval_s=0.05)

    assert time.monotonic() - refused_at >= 3.5, "the retry came before the sink's Retry-After"
    assert [d["status"] for d in of_resource(stack, video_id)] == [429, 200]


def test_an_event_the_sink_never_accepts_is_retried_then_parked_in_the_dlq(
    api, auth_headers, stack, aws_client, sink_recovers
):
    control(stack, status=500, times=10_000)
    video_id = deleted_video(api, auth_headers(f"down-{uuid.uuid4().hex[:8]}"))
    sqs, dlq = aws_client("sqs"), stack.resources["WebhookDLQ"]

    def parked() -> list[dict[str, Any]]:
        messages = sqs.receive_message(
            QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0
        ).get("Messages", [])
        return [m for m in messages if video_id in m["Body"]]

    found = wait_for(parked, timeout_s=60, interval_s=0.5)

    attempts = of_resource(stack, video_id)
    assert len(attempts) >= 3 and {d["status"] for d in attempts} == {500}
    assert json.loads(found[0]["Body"])["detail"]["type"] == "video.deleted"
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=found[0]["ReceiptHandle"])
