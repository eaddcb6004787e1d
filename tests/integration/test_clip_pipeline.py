"""Clips end to end on this machine: clip API -> clip queue -> clip worker -> real ffmpeg reading
the source from S3 over HTTP range reads -> clip in S3 -> GET /clips/{id}.

moto runs as a threaded server on 127.0.0.1 (its in-process mock cannot serve ffmpeg's range
reads), and every check on frames is made on decoded pictures of the generated sources.
"""

import dataclasses
import json
import os
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from practika.clips import rules
from practika.clips import store as clip_store
from practika.clips.model import ClipError, ClipRequest, clip_object_key
from practika.media import smart
from practika.settings import clip_settings
from practika.videos.model import MediaFacts, Video, VideoStatus, upload_object_key, video_key
from tests import mediafactory
from tests.clipfactory import (
    ClipSource,
    SourceFrame,
    assert_actual_is_the_files_truth,
    decode_errors,
    decoded_frame_indices,
    first_packet_is_keyframe,
    make_edit_list_source,
    make_source,
    source_frames,
    stream_facts,
    video_packet_hashes,
)
from tests.integration.conftest import clear_cached_configuration, create_table_from_template, reset_moto

REGION = "us-east-1"
TABLE, UPLOADS, CLIPS = "practika-test-app", "practika-test-uploads", "practika-test-clips"
OWNER, STRANGER = "user-alice", "user-mallory"
FRAME_S = 1 / 25


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, moto_server: tuple[str, Any]) -> Iterator[dict[str, Any]]:
    """A moto server with the app table (key schema from template.yaml), both buckets and the clip queue."""
    endpoint, _ = moto_server
    reset_moto(endpoint)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", endpoint)
        env.setenv("MEDIA_ALLOW_HTTP", "1")
        env.setenv("TABLE_NAME", TABLE)
        env.setenv("UPLOADS_BUCKET", UPLOADS)
        env.setenv("CLIPS_BUCKET", CLIPS)
        env.setenv("MIN_CLIP_SECONDS", "0.5")
        env.setenv("MAX_CLIP_SECONDS", "6")
        env.setenv("MAX_WIDTH", "1280")  # what the worker may deliver, like the validation's test limits
        env.setenv("MAX_HEIGHT", "720")
        env.setenv("MAX_CLIPS_PER_DAY", "1000")
        session = boto3.session.Session(region_name=REGION)
        table = session.resource("dynamodb", endpoint_url=endpoint).Table(TABLE)
        create_table_from_template(table.meta.client, "AppTable", TABLE)
        s3 = session.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=UPLOADS)
        s3.create_bucket(Bucket=CLIPS)
        sqs = session.client("sqs", endpoint_url=endpoint)
        queue_url = sqs.create_queue(QueueName="clip-queue")["QueueUrl"]
        env.setenv("CLIP_QUEUE_URL", queue_url)
        clear_cached_configuration()
        directory = tmp_path_factory.mktemp("clip-sources")
        yield {"table": table, "s3": s3, "sqs": sqs, "queue_url": queue_url, "dir": directory}
        clear_cached_configuration()


@pytest.fixture(scope="module")
def source(stack: dict[str, Any]) -> ClipSource:
    return make_source(stack["dir"], seconds=8, audio=True, moov_at_end=False)


@pytest.fixture(scope="module")
def moov_at_end_source(stack: dict[str, Any]) -> ClipSource:
    return make_source(stack["dir"], seconds=8, audio=True, moov_at_end=True)


def put_video(stack: dict[str, Any], source: ClipSource, owner: str = OWNER) -> str:
    """A ready video owned by `owner`, its bytes at uploads/<id>, as the upload engineer's code leaves it."""
    video_id = f"vid_{uuid.uuid4().hex[:16]}"
    stack["s3"].upload_file(str(source.path), UPLOADS, upload_object_key(video_id))
    video = Video(
        video_id=video_id,
        owner=owner,
        status=VideoStatus.READY,
        filename="My Holiday (1).mp4",
        content_type="video/mp4",
        size_bytes=source.path.stat().st_size,
        created_at="2026-11-26T12:00:00.000+00:00",
        updated_at="2026-11-26T12:00:05.000+00:00",
        media=MediaFacts(
            container="mp4",
            duration_s=source.seconds,
            size_bytes=source.path.stat().st_size,
            width=192,
            height=32,
            fps=25.0,
            video_codec="h264",
            audio_codec="aac" if source.has_audio else None,
        ),
    )
    item = json.loads(json.dumps(video.model_dump(mode="json")), parse_float=Decimal)
    # Validation records the ETag of the object it accepted.
    etag = stack["s3"].head_object(Bucket=UPLOADS, Key=upload_object_key(video_id))["ETag"].strip('"')
    stack["table"].put_item(Item={**video_key(video_id), **item, "object_etag": etag})
    return video_id


def post_clip(event: Any, lambda_context: Any, video_id: str, body: Any, owner: str = OWNER) -> tuple[int, dict]:
    from clip import api

    request = event("api-post-clip.json")
    request["rawPath"] = request["requestContext"]["http"]["path"] = f"/videos/{video_id}/clips"
    request["pathParameters"] = {"video_id": video_id}
    request["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = owner
    request["body"] = json.dumps(body)
    answer = api.handler(request, lambda_context)
    return answer["statusCode"], json.loads(answer["body"])


def get_clip(event: Any, lambda_context: Any, clip_id: str, owner: str = OWNER) -> tuple[int, dict]:
    from clip import api

    request = event("api-get-clip.json")
    request["rawPath"] = request["requestContext"]["http"]["path"] = f"/clips/{clip_id}"
    request["pathParameters"] = {"clip_id": clip_id}
    request["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = owner
    answer = api.handler(request, lambda_context)
    return answer["statusCode"], json.loads(answer["body"])


def run_worker(stack: dict[str, Any], event: Any, lambda_context: Any) -> dict:
    """Deliver what is on the clip queue to the worker as one SQS batch, like the event source mapping."""
    from clip import worker

    messages = (
        stack["sqs"]
        .receive_message(QueueUrl=stack["queue_url"], MaxNumberOfMessages=10, AttributeNames=["All"])
        .get("Messages", [])
    )
    template = event("sqs-clip-job.json")["Records"][0]
    records = [
        {
            **template,
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {**template["attributes"], **m.get("Attributes", {})},
        }
        for m in messages
    ]
    try:
        result = worker.handler({"Records": records}, lambda_context)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    except BatchProcessingError:  # every record failed: Lambda reports the whole batch failed
        failed = {m["MessageId"] for m in messages}
    for m in messages:
        if m["MessageId"] not in failed:
            stack["sqs"].delete_message(QueueUrl=stack["queue_url"], ReceiptHandle=m["ReceiptHandle"])
        else:  # SQS would deliver it again after the visibility timeout: at once here
            stack["sqs"].change_message_visibility(
                QueueUrl=stack["queue_url"], ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )
    return {"received": len(messages), "failed": failed}


def cut_and_fetch(
    stack: dict[str, Any], event: Any, lambda_context: Any, source: ClipSource, body: dict, tmp_path: Path
) -> tuple[dict, Path]:
    video_id = put_video(stack, source)
    status, created = post_clip(event, lambda_context, video_id, body)
    assert status == 202, created
    outcome = run_worker(stack, event, lambda_context)
    assert outcome == {"received": 1, "failed": set()}
    status, clip = get_clip(event, lambda_context, created["clip_id"])
    assert status == 200 and clip["status"] == "ready", clip
    download = requests.get(clip["download_url"], timeout=10)
    assert download.status_code == 200
    path = tmp_path / f"{clip['clip_id']}.mp4"
    path.write_bytes(download.content)
    assert_actual_is_the_files_truth(clip["actual"], path)
    return clip, path


def test_an_accurate_clip_holds_exactly_the_requested_frames(stack, source, event, lambda_context, tmp_path):
    # Given a frame-indexed source and a request from frame 62.5 (2.5 s) to frame 112.5 (4.5 s)
    body = {"start_s": 2.5, "end_s": 4.5, "mode": "accurate"}

    # When the clip is cut
    clip, path = cut_and_fetch(stack, event, lambda_context, source, body, tmp_path)

    # Then the decoded pictures are source frames 63..112, each once, in order
    frames = decoded_frame_indices(path)
    assert frames == list(range(63, 113))
    # and the clip starts where asked (the first picture is shown from there, with the audio) and
    # ends where the last frame's display ends
    assert clip["actual"]["start_s"] == 2.5
    assert clip["actual"]["end_s"] == pytest.approx(113 * FRAME_S, abs=0.001)


def copied_from_source(clip: Path, source: ClipSource) -> list[bool]:
    """For each video packet of the clip in decode order: whether it is one of the source's own."""
    source_packets = set(video_packet_hashes(source.path))
    return [packet in source_packets for packet in video_packet_hashes(clip)]


def test_an_accurate_clip_copies_the_whole_gops_and_re_encodes_only_its_edges(
    stack, source, event, lambda_context, tmp_path
):
    # Given a request from frame 62.5 to frame 164.5: key frames at 75, 100, 125, 150 inside it; the
    # source decodes ... 162 160 161 165 163 164, so B-frames 163 and 164 need P-frame 165, shown after the end
    body = {"start_s": 2.5, "end_s": 6.58, "mode": "accurate"}

    # When the clip is cut
    clip, path = cut_and_fetch(stack, event, lambda_context, source, body, tmp_path)

    # Then it holds exactly frames 63..164, decodes without a single error, and says it was smart-cut
    assert decoded_frame_indices(path) == list(range(63, 165))
    assert decode_errors(path) == ""
    assert clip["method"] == "smart"
    assert clip["actual"]["start_s"] == 2.5  # the first frame is shown from there, with the audio
    assert clip["actual"]["end_s"] == pytest.approx(165 * FRAME_S, abs=0.001)
    assert_actual_is_the_files_truth(clip["actual"], path)
    # and the packets of frames 75..149 are the source's own bytes (all 75 but the 3 key frames, whose
    # packets also carry the source's parameter sets in-band), while the edges (63..74, 150..164)
    # were re-encoded
    copied = copied_from_source(path, source)
    assert len(copied) == 102 and sum(copied) == 72
    assert not copied[0] and not copied[-1]


def test_a_last_gop_that_decodes_its_frames_up_to_the_end_first_is_copied_up_to_the_end(
    stack, source, event, lambda_context, tmp_path
):
    # Given a request to frame 162.5: the last GOP decodes 150 153 151 152 ... 162 160 161 before 165,
    # so no frame up to the end refers to one after it
    body = {"start_s": 2.5, "end_s": 6.5, "mode": "accurate"}

    clip, path = cut_and_fetch(stack, event, lambda_context, source, body, tmp_path)

    # Then frames 63..162 play without an error and only the head (63..74) was re-encoded: the packets
    # of 75..162 are the source's own (all 88 but the key frames 75, 100, 125, 150)
    assert decoded_frame_indices(path) == list(range(63, 163))
    assert decode_errors(path) == ""
    assert clip["method"] == "smart"
    copied = copied_from_source(path, source)
    assert sum(copied) == 84 and copied[-1]


@pytest.mark.parametrize(
    "start_s,end_s,frames,method",
    [
        (3.0, 5.3, (75, 132), "smart"),  # starts on a key frame: nothing before it is re-encoded
        (2.5, 6.0, (63, 149), "smart"),  # ends on a key frame: no tail to re-encode
        (2.5, 8.0, (63, 199), "smart"),  # ends with the source: its last GOP is copied whole
        (2.2, 2.9, (55, 72), "reencode"),  # no key frame inside: the clip is re-encoded whole
    ],
)
def test_an_accurate_clip_is_frame_exact_whatever_gops_it_spans(
    stack, source, event, lambda_context, tmp_path, start_s, end_s, frames, method
):
    body = {"start_s": start_s, "end_s": end_s, "mode": "accurate"}

    clip, path = cut_and_fetch(stack, event, lambda_context, source, body, tmp_path)

    assert decoded_frame_indices(path) == list(range(frames[0], frames[1] + 1))
    assert decode_errors(path) == ""
    assert clip["method"] == method
    facts = stream_facts(path)
    assert facts["audio"]["duration_s"] == pytest.approx(facts["video"]["duration_s"], abs=0.05)


def move_in_join_script(monkeypatch: pytest.MonkeyPatch, directive: str, by_us: int) -> None:
    """Make the smart join's concat script wrong on purpose: its first `directive` (a time in
    microseconds) moved by `by_us`."""
    script = smart.concat_script

    def moved(plan_, facts, files):
        lines = script(plan_, facts, files).splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{directive} "))
        lines[at] = f"{directive} {int(lines[at].split()[1].removesuffix('us')) + by_us}us"
        return "\n".join(lines) + "\n"

    monkeypatch.setattr(smart, "concat_script", moved)


@pytest.mark.parametrize("shift_s", [-0.2, 0.2])
def test_a_join_whose_times_do_not_follow_on_is_not_kept_and_the_clip_is_re_encoded_whole(
    stack, source, event, lambda_context, tmp_path, monkeypatch, shift_s
):
    # Given a join script whose head lasts 0.2 s less (the middle's first frames would then be
    # decoded before the head's last ones) or 0.2 s more (a still picture between head and middle)
    move_in_join_script(monkeypatch, "duration", int(shift_s * 1e6))
    body = {"start_s": 2.5, "end_s": 6.58, "mode": "accurate"}

    clip, path = cut_and_fetch(stack, event, lambda_context, source, body, tmp_path)

    # Then the smart join is thrown away: frames 63..164 re-encoded whole, evenly spaced, no errors
    assert clip["method"] == "reencode"
    assert decoded_frame_indices(path) == list(range(63, 165))
    assert decode_errors(path) == ""
    assert clip["actual"]["end_s"] == pytest.approx(165 * FRAME_S, abs=0.001)


def test_a_join_that_lost_frames_is_not_kept_even_when_it_lasts_as_long_as_planned(
    stack, source, event, lambda_context, tmp_path, monkeypatch
):
    # Given a join script whose middle stops three frames early: the tail still starts where it
    # should, so the clip lasts as planned, but frames 147..149 are missing (only the count shows it)
    move_in_join_script(monkeypatch, "outpoint", -3 * 40_000)
    body = {"start_s": 2.5, "end_s": 6.58, "mode": "accurate"}

    clip, path = cut_and_fetch(stack, event, lambda_context, source, body, tmp_path)

    # Then the smart join is thrown away and frames 63..164 are re-encoded whole, none missing
    assert clip["method"] == "reencode"
    assert decoded_frame_indices(path) == list(range(63, 165))


def test_edges_whose_decode_times_do_not_follow_on_are_not_joined(
    stack, source, event, lambda_context, tmp_path, monkeypatch
):
    # Given edges encoded without the B-frames the source has (its decode times run 2 frames
    # behind its presentation times, the edges' would not): the head's last frame would be decoded
    # after the middle's first, and ffmpeg would move that time and write the clip anyway
    monkeypatch.setattr(smart, "_BFRAMES_FOR_DELAY", dict.fromkeys((0, 1, 2), ("0", "none")))
    body = {"start_s": 2.5, "end_s": 6.58, "mode": "accurate"}

    clip, path = cut_and_fetch(stack, event, lambda_context, source, body, tmp_path)

    # Then the join fails (-xerror) and the clip is re-encoded whole, frame-exact
    assert clip["method"] == "reencode"
    assert decoded_frame_indices(path) == list(range(63, 165))
    assert decode_errors(path) == ""


def test_a_source_smart_cuts_do_not_handle_is_re_encoded_frame_exactly(stack, event, lambda_context, tmp_path):
    # Given an MPEG-4 Part 2 source (not H.264)
    source = make_source(stack["dir"], seconds=8, audio=True, codec="mpeg4")
    body = {"start_s": 2.5, "end_s": 6.5, "mode": "accurate"}

    # When an accurate clip is cut
    clip, path = cut_and_fetch(stack, event, lambda_context, source, body, tmp_path)

    # Then it is re-encoded whole, says so, and still holds exactly the requested frames
    assert clip["method"] == "reencode"
    assert decoded_frame_indices(path) == list(range(63, 163))
    assert decode_errors(path) == ""


def test_a_silent_source_is_smart_cut_without_audio(stack, event, lambda_context, tmp_path):
    source = make_source(stack["dir"], seconds=8, audio=False)

    clip, path = cut_and_fetch(
        stack, event, lambda_context, source, {"start_s": 1.3, "end_s": 4.1, "mode": "accurate"}, tmp_path
    )

    assert clip["method"] == "smart"
    assert decoded_frame_indices(path) == list(range(33, 103))
    assert set(stream_facts(path)) == {"video", "format"}


def test_an_accurate_clip_on_frame_boundaries_starts_and_ends_on_those_frames(
    stack, source, event, lambda_context, tmp_path
):
    # Given a request on exact frame times (frame 50 to frame 150)
    body = {"start_s": 2.0, "end_s": 6.0, "mode": "accurate"}

    # When the clip is cut
    clip, path = cut_and_fetch(stack, event, lambda_context, source, body, tmp_path)

    # Then the first decoded frame is 50 and the last is 149 (within one frame)
    frames = decoded_frame_indices(path)
    assert abs(frames[0] - 50) <= 1 and abs(frames[-1] - 149) <= 1
    assert frames == list(range(frames[0], frames[-1] + 1))
    assert clip["actual"] == {"start_s": 2.0, "end_s": 6.0, "duration_s": 4.0}


def test_a_fast_clip_starts_on_the_key_frame_before_the_request_and_reports_it(
    stack, source, event, lambda_context, tmp_path
):
    # Given a fast request at 2.5 s, between the key frames at 2 s and 3 s
    body = {"start_s": 2.5, "end_s": 4.5, "mode": "fast"}

    # When the clip is cut
    clip, path = cut_and_fetch(stack, event, lambda_context, source, body, tmp_path)

    # Then it starts on the key frame at 2 s (frame 50), decodably, and says so
    frames = decoded_frame_indices(path)
    assert frames[0] == 50
    assert clip["method"] == "copy"
    assert first_packet_is_keyframe(path)
    assert clip["actual"]["start_s"] == source.keyframe_at_or_before(2.5) == 2.0
    # and it reaches the requested end (stream copy ends on a packet, at most the B-frame depth beyond)
    assert 112 <= frames[-1] <= 115
    facts = stream_facts(path)
    assert clip["actual"]["duration_s"] == pytest.approx(facts["video"]["duration_s"], abs=0.001)
    assert clip["actual"]["end_s"] == pytest.approx(2.0 + facts["video"]["duration_s"], abs=0.001)


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_a_moov_at_end_source_is_cut_like_any_other(stack, moov_at_end_source, event, lambda_context, tmp_path, mode):
    # Given a source whose index sits at the end of the file
    body = {"start_s": 3.0, "end_s": 5.0, "mode": mode}

    # When the clip is cut
    clip, path = cut_and_fetch(stack, event, lambda_context, moov_at_end_source, body, tmp_path)

    # Then it starts on frame 75 (a key frame, so both modes agree)
    frames = decoded_frame_indices(path)
    assert frames[0] == 75
    assert clip["actual"]["start_s"] == 3.0


@pytest.mark.parametrize("mode,tolerance_s", [("accurate", 0.05), ("fast", 0.15)])
def test_audio_and_video_durations_agree(stack, source, event, lambda_context, tmp_path, mode, tolerance_s):
    # Given a source with audio
    body = {"start_s": 1.3, "end_s": 3.7, "mode": mode}

    # When the clip is cut
    _, path = cut_and_fetch(stack, event, lambda_context, source, body, tmp_path)

    # Then its audio lasts as long as its video (an AAC frame; a fast cut also its B-frame tail)
    facts = stream_facts(path)
    assert facts["audio"]["duration_s"] == pytest.approx(facts["video"]["duration_s"], abs=tolerance_s)


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_the_download_url_names_the_file_and_the_clip_is_a_faststart_mp4(
    stack, source, event, lambda_context, tmp_path, mode
):
    body = {"start_s": 1.0, "end_s": 2.0, "mode": mode}

    clip, path = cut_and_fetch(stack, event, lambda_context, source, body, tmp_path)

    assert "response-content-disposition=attachment" in clip["download_url"]
    assert "My_Holiday_1-clip-1-2.mp4" in requests.utils.unquote(clip["download_url"])
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    head = stack["s3"].head_object(Bucket=CLIPS, Key=clip_object_key(clip["video_id"], clip["clip_id"]))
    assert head["ContentType"] == "video/mp4"


def test_a_short_clip_reads_a_small_part_of_a_long_source(stack, event, lambda_context, capsys):
    # Given a 60 s source (moov at the end) and a 2 s clip from its middle
    source = make_source(stack["dir"], seconds=60, audio=True, moov_at_end=True, noisy=True)
    video_id = put_video(stack, source)
    status, created = post_clip(event, lambda_context, video_id, {"start_s": 30, "end_s": 32, "mode": "fast"})
    assert status == 202
    capsys.readouterr()

    # When the worker cuts it
    run_worker(stack, event, lambda_context)

    # Then the clip is ready and ffmpeg read only a fraction of the source (EMF metric of the worker)
    record = clip_store.get_clip(created["clip_id"])
    assert record is not None and record.status == "ready"
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "ClipSourceBytesRead" in line]
    bytes_read = emitted[0]["ClipSourceBytesRead"][0]
    source_size = source.path.stat().st_size
    print(f"source {source_size} bytes, clip {record.size_bytes} bytes, read {bytes_read} bytes")
    # (fixed cost: the index and ffprobe's first 128 KB buffer; then about twice the clip's bytes)
    assert bytes_read < source_size / 5
    assert bytes_read < 4 * (record.size_bytes or 0) + 256 * 1024


def test_a_repeated_request_returns_the_same_clip_and_never_cuts_twice(stack, source, event, lambda_context):
    video_id = put_video(stack, source)
    body = {"start_s": 1.0, "end_s": 2.0, "mode": "fast"}

    first_status, first = post_clip(event, lambda_context, video_id, body)
    second_status, second = post_clip(event, lambda_context, video_id, {**body, "start_s": 1.0000001})
    outcome = run_worker(stack, event, lambda_context)

    assert (first_status, second_status) == (202, 200)
    assert first["clip_id"] == second["clip_id"]
    assert outcome["received"] == 1


def test_racing_duplicates_create_one_clip(stack, source):
    # Given one video and eight requests for the same clip arriving together
    video_id = put_video(stack, source)
    video = Video.model_validate(stack["table"].get_item(Key=video_key(video_id))["Item"])
    wanted = rules.checked_request(ClipRequest(start_s=1, end_s=3, mode="accurate"), video, clip_settings())
    barrier = threading.Barrier(8)
    results: list[tuple[str, bool]] = []

    def ask() -> None:
        barrier.wait()
        clip, created = clip_store.create_clip(rules.new_clip(video, wanted), max_per_day=1000)
        results.append((clip.clip_id, created))

    # When they race to create it
    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly one created it and all got the same clip
    assert sum(created for _, created in results) == 1
    assert len({clip_id for clip_id, _ in results}) == 1


def test_another_users_clip_and_video_answer_404_like_missing_ones(stack, source, event, lambda_context):
    video_id = put_video(stack, source)
    _, created = post_clip(event, lambda_context, video_id, {"start_s": 0, "end_s": 1, "mode": "fast"})
    run_worker(stack, event, lambda_context)

    theirs_status, theirs = get_clip(event, lambda_context, created["clip_id"], owner=STRANGER)
    missing_status, missing = get_clip(event, lambda_context, "0" * 32, owner=STRANGER)
    post_status, posted = post_clip(
        event, lambda_context, video_id, {"start_s": 0, "end_s": 1, "mode": "fast"}, owner=STRANGER
    )

    assert theirs_status == missing_status == post_status == 404
    assert theirs["error"]["code"] == missing["error"]["code"] == posted["error"]["code"] == "not_found"
    assert theirs["error"]["message"] == missing["error"]["message"]


def test_a_source_gone_from_s3_fails_the_clip_without_retrying(stack, source, event, lambda_context):
    video_id = put_video(stack, source)
    _, created = post_clip(event, lambda_context, video_id, {"start_s": 0, "end_s": 1, "mode": "fast"})
    stack["s3"].delete_object(Bucket=UPLOADS, Key=upload_object_key(video_id))

    outcome = run_worker(stack, event, lambda_context)
    _, clip = get_clip(event, lambda_context, created["clip_id"])

    assert outcome["failed"] == set()
    assert clip["status"] == "failed" and clip["error"]["code"] == "source_missing"


def test_a_corrupt_source_fails_the_clip_with_a_code(stack, source, event, lambda_context, tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40)
    # A source validation accepted (its bytes and ETag as recorded) that ffmpeg cannot cut.
    video_id = put_video(stack, dataclasses.replace(source, path=garbage))
    _, created = post_clip(event, lambda_context, video_id, {"start_s": 0, "end_s": 1, "mode": "accurate"})

    outcome = run_worker(stack, event, lambda_context)
    _, clip = get_clip(event, lambda_context, created["clip_id"])

    assert outcome["failed"] == set()
    assert clip["status"] == "failed" and clip["error"]["code"] == "cut_failed"


def drain_queue(stack: dict[str, Any]) -> None:
    """Take every job off the clip queue (PurgeQueue may run only once a minute)."""
    sqs, url = stack["sqs"], stack["queue_url"]
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_a_clip_that_failed_for_a_passing_reason_is_cut_when_asked_for_again(stack, source, event, lambda_context):
    # Given a clip that failed because S3 could not be written (a storage error, retries used up)
    video_id = put_video(stack, source)
    body = {"start_s": 0, "end_s": 1, "mode": "fast"}
    _, created = post_clip(event, lambda_context, video_id, body)
    drain_queue(stack)  # the first job is lost; the clip is then failed by hand
    clip_store.mark_failed(created["clip_id"], ClipError(code="storage_error", message="S3UploadFailedError"))

    # When the user asks for the same clip again
    status, again = post_clip(event, lambda_context, video_id, body)
    outcome = run_worker(stack, event, lambda_context)
    _, clip = get_clip(event, lambda_context, created["clip_id"])

    # Then it is queued again (same clip), cut, and ready
    assert (status, again["clip_id"], again["status"], again["error"]) == (200, created["clip_id"], "queued", None)
    assert outcome["received"] == 1
    assert clip["status"] == "ready"


def test_a_clip_that_failed_on_its_media_stays_failed_when_asked_for_again(stack, source, event, lambda_context):
    # Given a clip whose cut failed on the media itself
    video_id = put_video(stack, source)
    body = {"start_s": 0, "end_s": 1, "mode": "fast"}
    _, created = post_clip(event, lambda_context, video_id, body)
    drain_queue(stack)  # the first job is lost; the clip is then failed by hand
    clip_store.mark_failed(created["clip_id"], ClipError(code="cut_failed", message="ffmpeg could not cut"))

    # When the user asks for it again
    status, again = post_clip(event, lambda_context, video_id, body)

    # Then the answer is the failed clip, and no job is queued
    messages = stack["sqs"].receive_message(QueueUrl=stack["queue_url"]).get("Messages", [])
    assert (status, again["status"], again["error"]["code"]) == (200, "failed", "cut_failed")
    assert messages == []


def test_a_source_written_again_after_validation_is_not_cut(stack, source, event, lambda_context, caplog):
    # Given a ready video whose object its owner overwrote after validation (the POST was still valid)
    video_id = put_video(stack, source)
    stack["s3"].put_object(Bucket=UPLOADS, Key=upload_object_key(video_id), Body=b"not what was validated")
    _, created = post_clip(event, lambda_context, video_id, {"start_s": 0, "end_s": 1, "mode": "fast"})

    # When the worker takes the job
    outcome = run_worker(stack, event, lambda_context)
    _, clip = get_clip(event, lambda_context, created["clip_id"])

    # Then the clip fails for good with source_replaced, logged as a security event
    assert outcome["failed"] == set()
    assert clip["status"] == "failed" and clip["error"]["code"] == "source_replaced"
    assert "object_replaced" in {getattr(r, "security_event", None) for r in caplog.records}


LAYOUTS = {
    "timestamps-from-10s": {"start_s": 10.0},
    "open-gop": {"open_gop": True},
    "variable-frame-rate": {"vfr": True},
    "audio-leads-video": {"audio_lead_s": 0.5},
    "moov-at-end-no-audio": {"moov_at_end": True, "audio": False},
    "edit-list-hides-pre-roll": {},  # make_edit_list_source
}


@pytest.fixture(scope="module")
def layout_sources(stack: dict[str, Any]) -> dict[str, tuple[ClipSource, list[SourceFrame]]]:
    made = {}
    for name, options in LAYOUTS.items():
        if name == "edit-list-hides-pre-roll":
            made_source = make_edit_list_source(stack["dir"])
        else:
            made_source = make_source(stack["dir"], seconds=4, **options)
        made[name] = (made_source, source_frames(made_source.path))
    return made


@pytest.mark.parametrize("mode", ["fast", "accurate"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_every_layout_gives_the_asked_for_frames_and_reports_the_files_truth(
    stack, layout_sources, event, lambda_context, tmp_path, layout, mode
):
    # Given a source in one of the layouts real files have, and a request between key frames
    source_made, frames = layout_sources[layout]
    start, end = 1.3, 2.7

    # When the clip is cut (cut_and_fetch checks `actual` against ffprobe of the download)
    body = {"start_s": start, "end_s": end, "mode": mode}
    clip, path = cut_and_fetch(stack, event, lambda_context, source_made, body, tmp_path)

    # Then its pictures are the source's frames from where it starts to the requested end
    decoded = decoded_frame_indices(path)
    if mode == "accurate":
        assert decoded == [f.index for f in frames if start - 0.0005 <= f.time_s < end - 0.0005]
        assert clip["actual"]["start_s"] == start
    else:
        keyframe = [f for f in frames if f.key and f.time_s <= start + 0.0005][-1]
        assert clip["actual"]["start_s"] == pytest.approx(keyframe.time_s, abs=0.001)
        assert first_packet_is_keyframe(path)
        wanted = [f.index for f in frames if keyframe.time_s <= f.time_s < end - 0.0005]
        assert decoded[: len(wanted)] == wanted


def ask_and_cut(stack, event, lambda_context, source_made: ClipSource, body: dict) -> tuple[str, dict]:
    video_id = put_video(stack, source_made)
    status, created = post_clip(event, lambda_context, video_id, body)
    assert status == 202, created
    run_worker(stack, event, lambda_context)
    _, clip = get_clip(event, lambda_context, created["clip_id"])
    return video_id, clip


def test_a_fast_clip_from_a_source_with_one_key_frame_fails_instead_of_breaking_the_length_limit(
    stack, event, lambda_context, capsys
):
    # Given an 8 s source whose only key frame is its first (clips at most 6 s)
    one_keyframe = make_source(stack["dir"], seconds=8, gop=1000)
    capsys.readouterr()

    # When a 0.5 s fast clip is asked for near its end
    video_id, clip = ask_and_cut(
        stack, event, lambda_context, one_keyframe, {"start_s": 7.0, "end_s": 7.5, "mode": "fast"}
    )

    # Then the 7.5 s copy is not delivered: the clip fails saying why, and no duration is recorded
    assert clip["status"] == "failed", clip
    assert clip["error"]["code"] == "keyframe_too_far"
    assert "accurate" in clip["error"]["message"]
    assert not stack["s3"].list_objects_v2(Bucket=CLIPS, Prefix=f"clips/{video_id}/").get("Contents")
    assert "ClipDurationSeconds" not in capsys.readouterr().out


def test_an_accurate_clip_from_a_source_with_one_key_frame_is_cut_where_asked(stack, event, lambda_context, tmp_path):
    one_keyframe = make_source(stack["dir"], seconds=8, gop=1000)

    clip, path = cut_and_fetch(stack, event, lambda_context, one_keyframe,
                               {"start_s": 7.0, "end_s": 7.5, "mode": "accurate"}, tmp_path)  # fmt: skip

    assert decoded_frame_indices(path) == list(range(175, 188))
    assert clip["actual"]["start_s"] == 7.0


def test_a_last_frame_lasting_ten_hours_never_becomes_a_clip_or_a_metric(stack, event, lambda_context, capsys):
    # Given a source whose frame at 1.8 s lasts until 36000 s (its record, like a forged index, says 8 s)
    late = mediafactory.make_late_last_frame(stack["dir"] / "late.mkv")
    late_mp4 = stack["dir"] / "late.mp4"
    mediafactory._ffmpeg("-i", str(late), "-c", "copy", str(late_mp4))
    source_made = make_source(stack["dir"], seconds=8)
    capsys.readouterr()

    # When a fast clip over that frame is cut (the copy lasts 35,999 s)
    _, clip = ask_and_cut(stack, event, lambda_context, dataclasses.replace(source_made, path=late_mp4),
                          {"start_s": 1.0, "end_s": 2.0, "mode": "fast"})  # fmt: skip

    # Then it fails with a clear code and the duration metric never sees it
    assert clip["status"] == "failed", clip
    assert clip["error"]["code"] == "output_too_long"
    assert "ClipDurationSeconds" not in capsys.readouterr().out


def test_a_clip_over_the_picture_size_limit_from_a_stream_that_switches_part_way_fails(stack, event, lambda_context):
    # Given a source that switches from 320x240 to 4096x2304 at 1 s (worker limit 1280x720)
    switch = mediafactory.make_resolution_switch(stack["dir"] / "switch.mp4")
    source_made = dataclasses.replace(make_source(stack["dir"], seconds=8), path=switch)

    # When a clip of its second part is cut
    _, clip = ask_and_cut(stack, event, lambda_context, source_made, {"start_s": 1.0, "end_s": 2.0, "mode": "fast"})

    # Then it is not delivered
    assert clip["status"] == "failed", clip
    assert clip["error"]["code"] == "output_resolution_too_high"
    assert "4096x2304" in clip["error"]["message"]


@pytest.fixture
def crashing_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ffmpeg that dies of SIGSEGV, as a decoder crash or the out-of-memory killer would end it."""
    shim = tmp_path / "bin" / "ffmpeg"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\nkill -SEGV $$\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}:{os.environ['PATH']}")


def test_a_crashing_ffmpeg_is_retried_and_the_final_failure_says_how_many_attempts(
    stack, source, event, lambda_context, crashing_ffmpeg, monkeypatch
):
    # Given a clip whose ffmpeg crashes every time
    video_id = put_video(stack, source)
    body = {"start_s": 1.0, "end_s": 2.0, "mode": "fast"}
    _, created = post_clip(event, lambda_context, video_id, body)

    # When SQS delivers the job three times
    outcomes = [run_worker(stack, event, lambda_context) for _ in range(3)]
    _, clip = get_clip(event, lambda_context, created["clip_id"])

    # Then the first two deliveries are retried, the third fails the clip with the attempt count
    assert [len(o["failed"]) for o in outcomes] == [1, 1, 0]
    assert clip["status"] == "failed"
    assert clip["error"]["code"] == "tool_crash"
    assert clip["error"]["attempts"] == 3 and "after 3 attempts" in clip["error"]["message"]

    # and once ffmpeg works again, asking for the clip again cuts it
    monkeypatch.undo()
    status, again = post_clip(event, lambda_context, video_id, body)
    run_worker(stack, event, lambda_context)
    _, clip = get_clip(event, lambda_context, created["clip_id"])
    assert (status, again["status"]) == (200, "queued")
    assert clip["status"] == "ready"


def test_the_worker_reads_a_source_with_its_byte_rate_from_the_record(stack, source):
    # Given a ready video whose record says how long it lasts
    video_id = put_video(stack, source)

    # When the worker asks how to read it
    read = clip_store.presign_source(video_id, expires_s=60)

    # Then it gets a GET for the bytes and their rate (size over duration), which sizes its range requests
    assert requests.get(read.url, timeout=10).content == source.path.read_bytes()
    assert read.size_bytes == source.path.stat().st_size
    assert read.bytes_per_s == pytest.approx(source.path.stat().st_size / source.seconds)


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_a_clip_read_through_the_local_cache_is_the_clip_read_straight_from_s3(stack, moov_at_end_source, mode):
    # Given a presigned GET for a camera-style source (index at the end)
    from practika.media.cut import cut_clip

    read = clip_store.presign_source(put_video(stack, moov_at_end_source), expires_s=300)
    cut = {"start_s": 2.3, "end_s": 5.1, "mode": mode, "timeout_s": 60, "source_bytes_per_s": read.bytes_per_s}

    # When the same clip is cut straight from the URL and through the cache
    with cut_clip(read.url, **cut) as straight, cut_clip(read.url, **cut, source_size=read.size_bytes) as cached:
        # Then both hold the same packets at the same times, and the cache counts what S3 sent
        assert video_packet_hashes(cached.path) == video_packet_hashes(straight.path)
        assert (cached.start_s, cached.duration_s, cached.method) == (
            straight.start_s,
            straight.duration_s,
            straight.method,
        )
        assert 0 < (cached.source_bytes_read or 0) <= read.size_bytes
