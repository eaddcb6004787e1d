"""Which item change is which app event, the event's stable id, Standard Webhooks signatures, and the
retry decisions of webhook deliveries."""

import pytest

from practika.events import signing
from practika.events.delivery import Attempt, next_delay_s
from practika.events.model import of_change
from practika.settings import WebhookSettings

VIDEO = {
    "pk": "VIDEO#v1", "sk": "VIDEO", "video_id": "v1", "owner": "user-a", "filename": "a.mp4",
    "content_type": "video/mp4", "size_bytes": 1000, "created_at": "2026-12-01T00:00:00Z",
    "updated_at": "2026-12-01T00:00:00Z", "list_pk": "OWNER#user-a#VIDEOS", "upload_id": "u",
}  # fmt: skip
CLIP = {
    "pk": "CLIP#c1", "sk": "CLIP", "clip_id": "c1", "video_id": "v1", "owner": "user-a",
    "requested": {"start_s": 1, "end_s": 2, "mode": "fast"}, "filename": "a-clip.mp4",
    "created_at": "2026-12-01T00:00:01.000+00:00", "updated_at": "2026-12-01T00:00:01.000+00:00",
}  # fmt: skip


def video(status: str, at: str = "2026-12-01T00:00:05Z", **extra: object) -> dict:
    return {**VIDEO, "status": status, "updated_at": at, **extra}


def clip(status: str, at: str = "2026-12-01T00:00:09.000+00:00", **extra: object) -> dict:
    return {**CLIP, "status": status, "updated_at": at, **extra}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, video("awaiting_upload"), None),
        (video("awaiting_upload"), video("validating"), "video.uploaded"),
        (video("validating"), video("validating"), None),  # a retried validation: uploaded once only
        (video("validating"), video("ready"), "video.ready"),
        (video("validating"), video("rejected"), "video.rejected"),
        (video("ready"), video("ready", deleting_at="2026-12-01T00:01:00Z"), None),
        (video("ready"), None, "video.deleted"),
        (None, clip("queued"), None),
        (clip("queued"), clip("processing"), None),
        (clip("processing"), clip("ready"), "clip.ready"),
        (clip("processing"), clip("failed", error={"code": "cut_failed", "message": "y"}), "clip.failed"),
        (clip("failed", error={"code": "cut_failed", "message": "y"}), clip("queued"), None),
        (clip("ready"), None, None),
        (None, {"pk": "OWNER#user-a", "sk": "PENDING#v1", "video_id": "v1"}, None),
    ],
)
def test_an_item_change_is_the_event_of_its_transition_or_none(old, new, expected):
    event = of_change(old, new)
    assert (event.type if event else None) == expected


def test_an_event_carries_the_public_view_a_schema_version_and_the_time_of_the_change():
    event = of_change(video("validating"), video("ready", media=None))
    assert event is not None
    body = event.model_dump(mode="json")
    assert body["schema_version"] == 1
    assert body["occurred_at"] == "2026-12-01T00:00:05Z"
    assert body["data"]["video_id"] == "v1" and "owner" not in body["data"] and "list_pk" not in body["data"]


def test_the_same_change_delivered_twice_has_the_same_id_and_another_change_another():
    first = of_change(clip("processing"), clip("failed", error={"code": "cut_failed", "message": "y"}))
    again = of_change(clip("processing"), clip("failed", error={"code": "cut_failed", "message": "y"}))
    later = of_change(
        clip("processing"),
        clip("failed", "2026-12-01T00:09:00.000+00:00", error={"code": "cut_failed", "message": "y"}),
    )
    assert first and again and later
    assert first.id == again.id != later.id


def test_a_deletion_event_is_dated_by_the_deletion_flag_so_its_id_is_stable():
    gone = of_change(video("ready", deleting_at="2026-12-01T00:01:00Z"), None)
    assert gone is not None and gone.occurred_at == "2026-12-01T00:01:00Z"


# --- signatures ------------------------------------------------------------------------------

# The Standard Webhooks specification's own example.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TS, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_matches_the_standard_webhooks_example():
    assert signing.signature(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE


def test_during_a_rotation_a_receiver_with_either_secret_accepts_the_delivery():
    new, old = signing.new_secret(), signing.new_secret()
    headers = signing.headers([new, old], "evt_1", 1000, b"{}")
    assert len(headers["webhook-signature"].split()) == 2
    assert signing.verify(new, headers, b"{}", now=1000)
    assert signing.verify(old, headers, b"{}", now=1000)
    assert not signing.verify(signing.new_secret(), headers, b"{}", now=1000)


@pytest.mark.parametrize(
    ("body", "now", "change"),
    [(b'{"x":1}', 1000, {}), (b"{}", 1000 + 301, {}), (b"{}", 1000, {"webhook-id": "evt_2"}),
     (b"{}", 1000, {"webhook-timestamp": "1001"}), (b"{}", 1000, {"webhook-timestamp": "soon"})],
)  # fmt: skip
def test_a_changed_body_id_or_timestamp_or_a_stale_delivery_is_refused(body, now, change):
    secret = signing.new_secret()
    headers = {**signing.headers([secret], "evt_1", 1000, b"{}"), **change}
    assert not signing.verify(secret, headers, body, now=now)


# --- retries ---------------------------------------------------------------------------------


def test_the_apps_retry_after_sets_the_next_attempt():
    assert next_delay_s(Attempt(False, 429, retry_after_s=120), 1, base_s=30, cap_s=3600) == 120
    assert next_delay_s(Attempt(False, 503, retry_after_s=10**9), 1, base_s=30, cap_s=3600) == 12 * 3600


def test_without_retry_after_the_delay_doubles_up_to_the_cap():
    delays = [next_delay_s(Attempt(False, 500), n, base_s=30, cap_s=3600) for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_the_default_schedule_keeps_retrying_for_more_than_a_day():
    settings = WebhookSettings(webhook_secret_name="s", webhook_queue_url="q", webhook_dlq_url="d")
    assert settings.webhook_retry_window_s >= 24 * 3600
