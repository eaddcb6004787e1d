"""Range rules, clip ids and download names: pure domain code."""

from datetime import datetime, timedelta

import pytest

from practika.clips import rules as clips
from practika.clips.model import ClipMode, ClipRange, ClipRequest
from practika.errors import ClipTooLong, ClipTooShort, InvalidClipRange, RangeBeyondVideo, VideoNotReady
from practika.settings import ClipSettings
from practika.videos.model import MediaFacts, Video, VideoStatus

SETTINGS = ClipSettings(clip_queue_url="https://sqs.example/q", min_clip_seconds=1, max_clip_seconds=60)


def video(status: VideoStatus = VideoStatus.READY, duration_s: float = 30.0) -> Video:
    media = MediaFacts(
        container="mp4", duration_s=duration_s, size_bytes=1000, width=640, height=360, fps=25, video_codec="h264"
    )
    return Video(
        video_id="vid_1",
        owner="alice",
        status=status,
        filename="Ski day #3.MP4",
        content_type="video/mp4",
        size_bytes=1000,
        created_at="2026-11-26T12:00:00+00:00",
        updated_at="2026-11-26T12:00:00+00:00",
        media=media if status == VideoStatus.READY else None,
    )


def ask(start: float, end: float, mode: str = "fast") -> ClipRequest:
    return ClipRequest(start_s=start, end_s=end, mode=ClipMode(mode))


def test_a_range_inside_the_video_is_accepted_and_rounded_to_the_millisecond():
    checked = clips.checked_request(ask(1.23456, 4.0004), video(), SETTINGS)
    assert checked == ClipRange(start_s=1.235, end_s=4.0, mode=ClipMode.FAST)


@pytest.mark.parametrize(
    "start,end,error",
    [
        (5, 5, InvalidClipRange),
        (6, 5, InvalidClipRange),
        (25, 30.5, RangeBeyondVideo),
        (1, 1.5, ClipTooShort),
        (0, 61, ClipTooLong),
    ],
)
def test_a_range_that_breaks_a_rule_is_refused_with_its_own_code(start, end, error):
    with pytest.raises(error) as refused:
        clips.checked_request(ask(start, end), video(duration_s=70 if error is ClipTooLong else 30), SETTINGS)
    assert refused.value.status == 422


def test_the_codes_of_range_errors_are_stable_words():
    assert [e.code for e in (InvalidClipRange, RangeBeyondVideo, ClipTooShort, ClipTooLong)] == [
        "invalid_range",
        "range_beyond_video",
        "clip_too_short",
        "clip_too_long",
    ]


def test_a_clip_may_end_exactly_at_the_end_of_the_video():
    assert clips.checked_request(ask(20, 30), video(), SETTINGS).end_s == 30


@pytest.mark.parametrize("status", [VideoStatus.AWAITING_UPLOAD, VideoStatus.VALIDATING, VideoStatus.REJECTED])
def test_a_video_that_is_not_ready_refuses_clips_with_409(status):
    with pytest.raises(VideoNotReady) as refused:
        clips.checked_request(ask(0, 2), video(status), SETTINGS)
    assert (refused.value.status, refused.value.code) == (409, "video_not_ready")


@pytest.mark.parametrize(
    "body",
    [
        {"start_s": -1, "end_s": 2, "mode": "fast"},
        {"start_s": 0, "end_s": 2, "mode": "sloppy"},
        {"start_s": 0, "end_s": "nan", "mode": "fast"},
        {"start_s": 0, "end_s": 2, "mode": "fast", "speed": 2},
    ],
)
def test_a_malformed_request_body_is_a_validation_error(body):
    with pytest.raises(ValueError):
        ClipRequest.model_validate(body)


def test_the_same_request_gives_the_same_id_and_any_difference_another():
    same = clips.clip_id_for("vid_1", ClipRange(start_s=1, end_s=2, mode=ClipMode.FAST))
    assert same == clips.clip_id_for("vid_1", ClipRange(start_s=1.0, end_s=2.0, mode=ClipMode.FAST))
    others = {
        clips.clip_id_for("vid_1", ClipRange(start_s=1, end_s=2, mode=ClipMode.ACCURATE)),
        clips.clip_id_for("vid_2", ClipRange(start_s=1, end_s=2, mode=ClipMode.FAST)),
        clips.clip_id_for("vid_1", ClipRange(start_s=1.001, end_s=2, mode=ClipMode.FAST)),
    }
    assert same not in others and len(others) == 3


def test_the_download_name_is_safe_ascii_from_the_video_name_and_range():
    name = clips.download_filename('Ski "day" #3/../ü.MP4', ClipRange(start_s=1.5, end_s=4, mode=ClipMode.FAST))
    assert name == "Ski_day_3-clip-1.5-4.mp4"


def test_a_clip_queued_long_ago_is_queued_again_but_a_fresh_one_is_not():
    clip = clips.new_clip(video(), ClipRange(start_s=1, end_s=2, mode=ClipMode.FAST))
    created = datetime.fromisoformat(clip.updated_at)
    assert not clips.needs_requeue(clip, created + timedelta(seconds=30))
    assert clips.needs_requeue(clip, created + clips.REQUEUE_AFTER + timedelta(seconds=1))
