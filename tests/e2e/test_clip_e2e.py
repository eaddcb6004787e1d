"""Clips through the local stack: a frame-indexed source uploaded and validated over HTTP, clips asked
for through the API, cut by the clip worker from ClipQueue reading the source from moto's S3, and
downloaded through the presigned download_url; accuracy is checked on decoded pictures.

The source is 4 s (the e2e stack's MaxDurationSeconds is 5), 25 fps, a key frame every second.
"""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.clipfactory import (
    ClipSource,
    assert_actual_is_the_files_truth,
    decode_errors,
    decoded_frame_indices,
    first_packet_is_keyframe,
    make_source,
    stream_facts,
)
from tests.e2e import clients, playback

FRAME_S = 1 / 25
ACCURATE = {"start_s": 1.5, "end_s": 3.5, "mode": "accurate"}  # between frames 37 and 38, 87 and 88
FAST = {"start_s": 1.5, "end_s": 3.5, "mode": "fast"}  # key frames at 1 s and 2 s
ON_FRAMES = {"start_s": 1.0, "end_s": 2.0, "mode": "accurate"}  # frames 25 to 49 exactly


@dataclass
class Source:
    clip_source: ClipSource
    video_id: str
    owner: str
    headers: dict[str, str]
    video: dict[str, Any]


@dataclass
class Cut:
    """A clip asked for once, finished, and downloaded."""

    status_code: int
    clip: dict[str, Any]
    path: Path
    download: requests.Response


@pytest.fixture(scope="module")
def source(api, auth_headers, tmp_path_factory) -> Source:
    """A frame-indexed 4 s MP4 (H.264 with B-frames and CABAC, AAC) uploaded with a presigned POST and
    validated. CABAC as in camera and phone video: a smart cut's edges (x264 ultrafast) are CAVLC, so
    the clip mixes both, each slice's PPS saying which."""
    clip_source = make_source(tmp_path_factory.mktemp("clip-e2e"), seconds=4, audio=True, cabac=True)
    owner = f"clipper-{uuid.uuid4().hex[:6]}"
    headers = auth_headers(owner)
    video_id = clients.upload_file(api, headers, clip_source.path, "video/mp4")
    video = clients.wait_for_video(api, headers, video_id)
    assert video["status"] == "ready", video["rejection"]
    return Source(clip_source, video_id, owner, headers, video)


@pytest.fixture(scope="module")
def cuts(api, source, tmp_path_factory) -> dict[str, Cut]:
    """The accurate, fast and on-frame clips, asked for together, cut, and downloaded."""
    directory = tmp_path_factory.mktemp("clips")

    def run(body: dict[str, Any]) -> Cut:
        answer = clients.request_clip(api, source.headers, source.video_id, body)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "queued"
        clip = clients.wait_for_clip(api, source.headers, answer.json()["clip_id"])
        assert clip["status"] == "ready", clip["error"]
        download = requests.get(clip["download_url"], timeout=30)
        path = directory / f"{clip['clip_id']}.mp4"
        path.write_bytes(download.content)
        assert_actual_is_the_files_truth(clip["actual"], path)
        return Cut(answer.status_code, clip, path, download)

    wanted = {"accurate": ACCURATE, "fast": FAST, "on_frames": ON_FRAMES}
    with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        return dict(zip(wanted, pool.map(run, wanted.values()), strict=True))


def test_the_source_is_ready_with_its_facts(source):
    media = source.video["media"]
    assert (media["width"], media["height"], media["fps"]) == (192, 32, 25.0)
    assert media["duration_s"] == pytest.approx(4.0, abs=0.05)


def test_an_accurate_clip_holds_exactly_the_requested_frames(cuts):
    # Given a clip asked for from 1.5 s (between frames 37 and 38) to 3.5 s (between 87 and 88)
    cut = cuts["accurate"]

    # Then the decoded pictures are source frames 38..87, each once, in order
    assert decoded_frame_indices(cut.path) == list(range(38, 88))
    # and it starts where asked (the first picture shown from there, with the audio) and ends where
    # the last frame's display ends (the `cuts` fixture checks `actual` against ffprobe of the download)
    facts = stream_facts(cut.path)
    assert cut.clip["requested"] == ACCURATE
    assert cut.clip["actual"]["start_s"] == 1.5
    assert cut.clip["actual"]["end_s"] == pytest.approx(88 * FRAME_S, abs=0.001)
    # and its audio lasts as long as its video
    assert facts["audio"]["duration_s"] == pytest.approx(facts["video"]["duration_s"], abs=0.05)


@pytest.mark.parametrize("name", ["accurate", "on_frames"])
def test_accurate_clips_are_smart_cut_and_decode_without_a_single_error(cuts, name):
    # Given accurate clips of an H.264 source (the first re-encodes frames 38..49 and 75..87 and
    # copies 50..74; the second, on key frames, copies its GOP whole)
    cut = cuts[name]

    # Then they say they were smart-cut, and ffmpeg decodes every frame of every stream without an error
    assert cut.clip["method"] == "smart"
    assert decode_errors(cut.path) == ""


def test_a_fast_clip_says_it_was_copied(cuts):
    assert cuts["fast"].clip["method"] == "copy"
    assert decode_errors(cuts["fast"].path) == ""


def test_a_smart_cut_clip_plays_to_its_end_in_chromium(cuts):
    # Given the smart-cut clip (re-encoded CAVLC edges, copied CABAC middle, parameter sets
    # changing in-band)
    cut = cuts["accurate"]

    # When Chromium's <video> plays it
    outcome = playback.play(cut.path)

    # Then it reaches the end with no media error, having decoded all 50 frames, none corrupted
    assert outcome["what"] == "ended", outcome
    assert outcome["error"] is None
    assert outcome["total"] == 50 and outcome["corrupted"] == 0, outcome
    assert outcome["duration"] == pytest.approx(2.0, abs=0.05)


def test_an_accurate_clip_on_frame_times_starts_and_ends_on_those_frames(cuts):
    cut = cuts["on_frames"]

    frames = decoded_frame_indices(cut.path)

    assert frames == list(range(25, 50))
    assert cut.clip["actual"] == {"start_s": 1.0, "end_s": 2.0, "duration_s": 1.0}


def test_a_fast_clip_starts_on_the_key_frame_before_the_request_and_reports_it(cuts, source):
    # Given a fast clip asked for from 1.5 s, between the key frames at 1 s and 2 s
    cut = cuts["fast"]

    # Then it starts, decodably, on the key frame at 1 s (frame 25) and says so
    frames = decoded_frame_indices(cut.path)
    assert frames[0] == 25
    assert first_packet_is_keyframe(cut.path)
    assert cut.clip["actual"]["start_s"] == source.clip_source.keyframe_at_or_before(1.5) == 1.0
    # and it reaches the requested end (a stream copy ends on a packet: at most the B-frame depth beyond)
    # (every frame up to the end once and in order; past it, the packets the copy ended on: in decode order,
    # so a B-frame behind the last P-frame can be missing, e.g. 88, 90)
    assert frames[: 87 - 25 + 1] == list(range(25, 88))
    tail = frames[87 - 25 + 1 :]
    assert tail == sorted(set(tail)) and all(87 < frame <= 90 for frame in tail), tail
    facts = stream_facts(cut.path)
    assert cut.clip["actual"]["duration_s"] == pytest.approx(facts["format"]["duration_s"], abs=0.001)
    assert cut.clip["actual"]["end_s"] == pytest.approx(1.0 + facts["format"]["duration_s"], abs=0.001)


def test_the_download_url_serves_a_faststart_mp4_named_after_the_video(cuts, source, stack, aws_client):
    cut = cuts["accurate"]

    assert cut.download.status_code == 200
    disposition = 'attachment; filename="src-4s-av-faststart-cabac-clip-1.5-3.5.mp4"'
    assert cut.download.headers.get("Content-Disposition", disposition) == disposition
    assert disposition in requests.utils.unquote(cut.clip["download_url"])
    data = cut.path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    key = f"clips/{source.video_id}/{cut.clip['clip_id']}.mp4"
    head = aws_client("s3").head_object(Bucket=stack.resources["ClipsBucket"], Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "video/mp4"


def test_a_clip_answer_has_the_interface_table_shape(cuts, source):
    clip = cuts["fast"].clip

    assert {"clip_id", "video_id", "status", "requested", "actual", "download_url", "error"} <= set(clip)
    assert clip["video_id"] == source.video_id
    assert clip["error"] is None
    assert set(clip["actual"]) == {"start_s", "end_s", "duration_s"}


def test_a_repeated_request_returns_the_same_clip_with_200(cuts, api, source):
    first = cuts["accurate"].clip

    again = clients.request_clip(api, source.headers, source.video_id, ACCURATE)
    nearly = clients.request_clip(api, source.headers, source.video_id, {**ACCURATE, "start_s": 1.5000001})

    assert again.status_code == nearly.status_code == 200
    assert again.json()["clip_id"] == nearly.json()["clip_id"] == first["clip_id"]
    assert again.json()["status"] == "ready"


def test_racing_duplicate_requests_create_one_clip(api, source):
    # Given eight requests for the same new clip sent at the same moment
    body = {"start_s": 0.0, "end_s": 1.0, "mode": "fast"}
    barrier = threading.Barrier(8)

    def ask(_: int) -> requests.Response:
        barrier.wait()
        return clients.request_clip(api, source.headers, source.video_id, body)

    # When they race
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(8)))

    # Then exactly one created it (202), the others got it (200), all the same clip, and it is cut once
    assert sorted(a.status_code for a in answers) == [200] * 7 + [202], [a.text for a in answers]
    assert len({a.json()["clip_id"] for a in answers}) == 1
    clip = clients.wait_for_clip(api, source.headers, answers[0].json()["clip_id"])
    assert clip["status"] == "ready", clip["error"]


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"start_s": 2.0, "end_s": 2.0, "mode": "fast"}, 422, "invalid_range"),
        ({"start_s": 3.0, "end_s": 2.0, "mode": "fast"}, 422, "invalid_range"),
        ({"start_s": 2.0, "end_s": 10.0, "mode": "fast"}, 422, "range_beyond_video"),
        ({"start_s": 1.0, "end_s": 1.5, "mode": "accurate"}, 422, "clip_too_short"),
        ({"start_s": -1.0, "end_s": 1.0, "mode": "fast"}, 422, "validation_error"),
        ({"start_s": 1.0, "end_s": 2.0, "mode": "slow"}, 422, "validation_error"),
        ({"start_s": 1.0, "mode": "fast"}, 422, "validation_error"),
        ({"start_s": 1.0, "end_s": 2.0, "mode": "fast", "speed": 2}, 422, "validation_error"),
        ({"start_s": "one", "end_s": 2.0, "mode": "fast"}, 422, "validation_error"),
        ("{not json", 422, "invalid_json"),
    ],
    ids=[
        "empty_range",
        "reversed_range",
        "beyond_the_end",
        "too_short",
        "negative_start",
        "unknown_mode",
        "missing_end",
        "unknown_field",
        "start_not_a_number",
        "not_json",
    ],
)
def test_an_invalid_clip_request_answers_a_clear_4xx(api, source, body, status, code):
    answer = clients.request_clip(api, source.headers, source.video_id, body)

    assert answer.status_code == status, answer.text
    assert clients.error_of(answer)["code"] == code


def test_a_clip_of_a_video_not_yet_uploaded_answers_409_video_not_ready(api, auth_headers):
    headers = auth_headers(f"early-{uuid.uuid4().hex[:6]}")
    created = clients.create_video(api, headers, "later.mp4", "video/mp4", 1000)

    answer = clients.request_clip(api, headers, created["video_id"], {"start_s": 0, "end_s": 1, "mode": "fast"})

    assert answer.status_code == 409, answer.text
    error = clients.error_of(answer)
    assert error["code"] == "video_not_ready"
    assert error["details"]["status"] == "awaiting_upload"


def test_a_clip_of_a_rejected_video_answers_409_video_not_ready(api, auth_headers, tmp_path):
    headers = auth_headers(f"rejected-{uuid.uuid4().hex[:6]}")
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video at all\n" * 10)
    video_id = clients.upload_file(api, headers, notes, "video/mp4")
    assert clients.wait_for_video(api, headers, video_id)["status"] == "rejected"

    answer = clients.request_clip(api, headers, video_id, {"start_s": 0, "end_s": 1, "mode": "fast"})

    assert answer.status_code == 409, answer.text
    error = clients.error_of(answer)
    assert error["code"] == "video_not_ready"
    assert error["details"]["status"] == "rejected"


def test_another_user_gets_404_for_the_video_and_the_clip_like_missing_ones(api, auth_headers, source, cuts):
    stranger = auth_headers("stranger-clips")
    body = {"start_s": 0.0, "end_s": 1.0, "mode": "fast"}
    clip_id = cuts["fast"].clip["clip_id"]
    missing_video, missing_clip = uuid.uuid4().hex, uuid.uuid4().hex

    their_video = clients.request_clip(api, stranger, source.video_id, body)
    no_video = clients.request_clip(api, stranger, missing_video, body)
    their_clip = clients.get_clip(api, stranger, clip_id)
    no_clip = clients.get_clip(api, stranger, missing_clip)

    assert their_video.status_code == their_clip.status_code == 404
    assert clients.error_of(their_video)["code"] == clients.error_of(their_clip)["code"] == "not_found"
    assert clients.same_answer(their_video, no_video, source.video_id, missing_video), (their_video.text, no_video.text)
    assert clients.same_answer(their_clip, no_clip, clip_id, missing_clip), (their_clip.text, no_clip.text)
    # and a malformed id is just as missing
    bad_clip, bad_video = clients.get_clip(api, stranger, "nope"), clients.request_clip(api, stranger, "nope", body)
    assert clients.same_answer(their_clip, bad_clip, clip_id, "nope"), (their_clip.text, bad_clip.text)
    assert clients.same_answer(their_video, bad_video, source.video_id, "nope"), (their_video.text, bad_video.text)
    # and the owner still sees the clip
    assert clients.get_clip(api, source.headers, clip_id).status_code == 200


def test_after_the_clip_suite_no_message_is_left_in_a_queue_or_dlq(cuts, stack, aws_client):
    clients.assert_pipeline_drained(stack, aws_client("sqs"))
