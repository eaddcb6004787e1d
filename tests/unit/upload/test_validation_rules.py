"""Validation rules with no AWS and no ffprobe: sniffing, S3 event parsing, limits, part plans."""

import json
from typing import Any

import pytest

from practika.media.probe import ProbeReport, Sniffed, VideoScan, sniff
from practika.observability import SecurityEvent
from practika.settings import MIB, ValidationSettings
from practika.videos.model import CreateVideoRequest
from practika.videos.rules import check_size, judge_report, judge_unreadable, plan_parts, s3_objects, upload_window_s
from tests.conftest import load_event

LIMITS = ValidationSettings(
    uploads_bucket="b", max_duration_s=60, max_width=1920, max_height=1080, max_fps=60, max_upload_bytes=10**9
)


def report(*streams: dict[str, Any], duration: float = 10.0, format_name: str = "mov,mp4,m4a,3gp,3g2,mj2",
           brand: str = "isom") -> ProbeReport:  # fmt: skip
    return ProbeReport.model_validate(
        {
            "format": {"format_name": format_name, "duration": duration, "tags": {"major_brand": brand}},
            "streams": [{"index": n, **s} for n, s in enumerate(streams)],
            "probe_ms": 1.0,
        }
    )


H264 = {"codec_type": "video", "codec_name": "h264", "width": 1280, "height": 720, "avg_frame_rate": "30000/1001"}
AAC = {"codec_type": "audio", "codec_name": "aac"}


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", Sniffed.ISO_BMFF),
        (b"\x00\x00\x00\x14ftypqt  ", Sniffed.ISO_BMFF),
        (b"\x00\x00\x00\x18ftypheic", Sniffed.IMAGE),
        (b"\x00\x00\x00\x18ftypM4A ", Sniffed.AUDIO),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", Sniffed.WEBM),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", Sniffed.MATROSKA),
        (b"RIFF\x00\x00\x00\x00AVI LIST", Sniffed.OTHER_VIDEO),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", Sniffed.IMAGE),
        (b"\x89PNG\r\n\x1a\n", Sniffed.IMAGE),
        (b"ID3\x04\x00", Sniffed.AUDIO),
        (b"#EXTM3U\n#EXT-X-VERSION:3\n", Sniffed.PLAYLIST),
        (b"ffconcat version 1.0\nfile 'http://x/a.mp4'\n", Sniffed.SCRIPT),
        (b"file '/etc/passwd'\n", Sniffed.SCRIPT),
        (b"just some notes\n", Sniffed.TEXT),
        (b"", Sniffed.EMPTY),
        (bytes(range(256)) * 4, Sniffed.UNKNOWN),
    ],
)
def test_sniffing_names_what_the_first_bytes_really_are(head: bytes, kind: Sniffed) -> None:
    assert sniff(head) == kind


def test_a_complete_report_gives_the_media_facts() -> None:
    verdict = judge_report(report(H264, AAC), Sniffed.ISO_BMFF, 5000, LIMITS)

    assert verdict.rejection is None
    assert verdict.media is not None
    assert verdict.media.model_dump() == {
        "container": "mp4", "duration_s": 10.0, "size_bytes": 5000, "width": 1280, "height": 720,
        "fps": 29.97, "video_codec": "h264", "audio_codec": "aac",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("streams", "duration", "code"),
    [
        ([AAC], 10.0, "no_video_stream"),
        ([{**H264, "codec_name": "mjpeg"}], 10.0, "unsupported_codec"),
        ([H264, {**AAC, "codec_name": "wmav2"}], 10.0, "unsupported_codec"),
        ([H264], 61.0, "too_long"),
        ([{**H264, "width": 3840, "height": 2160}], 10.0, "resolution_too_high"),
        ([{**H264, "avg_frame_rate": "120/1"}], 10.0, "frame_rate_too_high"),
        ([{**H264, "avg_frame_rate": "0/0", "r_frame_rate": "0/0"}], 10.0, "corrupt"),
        ([H264], 0.0, "corrupt"),
    ],
)
def test_a_report_breaking_a_limit_gets_its_code(streams: list[dict[str, Any]], duration: float, code: str) -> None:
    assert judge_report(report(*streams, duration=duration), Sniffed.ISO_BMFF, 1, LIMITS).code == code


def test_an_audio_file_sent_as_a_video_is_a_security_event() -> None:
    verdict = judge_report(report(AAC), Sniffed.ISO_BMFF, 1, LIMITS)

    assert verdict.security_event == SecurityEvent.DISGUISED_MEDIA


def test_portrait_video_within_the_limits_turned_sideways_is_accepted() -> None:
    portrait = {**H264, "width": 1080, "height": 1920}
    rotated = {**H264, "width": 1920, "height": 1080, "side_data_list": [{"rotation": -90}]}

    assert judge_report(report(portrait), Sniffed.ISO_BMFF, 1, LIMITS).media is not None
    media = judge_report(report(rotated), Sniffed.ISO_BMFF, 1, LIMITS).media
    assert media is not None and (media.width, media.height) == (1080, 1920)


def test_a_cover_picture_is_not_taken_for_the_video_track() -> None:
    cover = {**H264, "codec_name": "mjpeg", "disposition": {"attached_pic": 1}}

    assert judge_report(report(cover, AAC), Sniffed.ISO_BMFF, 1, LIMITS).code == "no_video_stream"


@pytest.mark.parametrize(
    ("sniffed", "brand", "name", "container"),
    [
        (Sniffed.ISO_BMFF, "qt", "mov,mp4,m4a,3gp,3g2,mj2", "mov"),
        (Sniffed.ISO_BMFF, "mp42", "mov,mp4,m4a,3gp,3g2,mj2", "mp4"),
        (Sniffed.WEBM, "", "matroska,webm", "webm"),
        (Sniffed.MATROSKA, "", "matroska,webm", "mkv"),
    ],
)
def test_the_container_is_named_from_demuxer_brand_and_doctype(
    sniffed: Sniffed, brand: str, name: str, container: str
) -> None:
    media = judge_report(report(H264, format_name=name, brand=brand), sniffed, 1, LIMITS).media

    assert media is not None and media.container == container


@pytest.mark.parametrize(
    ("sniffed", "code", "security"),
    [
        (Sniffed.PLAYLIST, "not_a_video", True),
        (Sniffed.SCRIPT, "not_a_video", True),
        (Sniffed.IMAGE, "not_a_video", True),
        (Sniffed.TEXT, "not_a_video", True),
        (Sniffed.OTHER_VIDEO, "unsupported_container", False),
        (Sniffed.ISO_BMFF, "corrupt", False),
        (Sniffed.UNKNOWN, "not_a_video", False),
    ],
)
def test_an_unreadable_file_is_explained_by_its_first_bytes(sniffed: Sniffed, code: str, security: bool) -> None:
    verdict = judge_unreadable(sniffed, "Invalid data found when processing input")

    assert verdict.code == code
    assert (verdict.security_event == SecurityEvent.DISGUISED_MEDIA) is security


@pytest.mark.parametrize(
    ("size", "declared", "code"),
    [
        (11, 11, None),
        (0, 5, "not_a_video"),
        (12, 11, "size_mismatch"),
        (10, 11, "size_mismatch"),
        (21, 21, "too_large"),
    ],
)
def test_size_checks_come_before_reading_content(size: int, declared: int, code: str | None) -> None:
    verdict = check_size(size, declared, limit=20)

    assert (verdict.code if verdict else None) == code


def test_s3_keys_are_decoded_as_s3_encodes_them() -> None:
    event = load_event("sqs-s3-object-created.json")
    body = json.loads(event["Records"][0]["body"])
    body["Records"][0]["s3"]["object"]["key"] = "uploads/a+b%2Fc%C3%A9"

    (ref,) = s3_objects(json.dumps(body))

    assert ref.key == "uploads/a b/cé"
    assert ref.bucket == "practika-dev-uploads-123456789012"


def test_the_s3_test_event_names_no_object() -> None:
    assert s3_objects(load_event("sqs-s3-test-event.json")["Records"][0]["body"]) == []


def test_a_minimal_record_as_moto_sends_it_is_enough() -> None:
    body = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]}

    (ref,) = s3_objects(json.dumps(body))

    assert (ref.bucket, ref.key, ref.size_bytes) == ("b", "k", None)


def test_removal_events_are_ignored() -> None:
    body = {"Records": [{"eventName": "ObjectRemoved:Delete", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]}

    assert s3_objects(json.dumps(body)) == []


def test_an_s3_event_delivered_through_sns_is_unwrapped() -> None:
    inner = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]}

    (ref,) = s3_objects(json.dumps({"Type": "Notification", "Message": json.dumps(inner)}))

    assert ref.key == "k"


@pytest.mark.parametrize(
    ("size", "preferred", "expected"),
    [
        (12 * MIB, 5 * MIB, (5 * MIB, 3)),
        (100 * MIB, 64 * MIB, (64 * MIB, 2)),
        (200_000 * MIB, 5 * MIB, (20 * MIB, 10_000)),
    ],
)
def test_a_part_plan_covers_the_size_within_s3_rules(size: int, preferred: int, expected: tuple[int, int]) -> None:
    part_size, count = plan_parts(size, preferred)

    assert (part_size, count) == expected
    assert part_size * count >= size and count <= 10_000 and part_size >= 5 * MIB


def test_a_presigned_post_keeps_the_configured_expiry() -> None:
    assert upload_window_s(90 * MIB, multipart=False, expiry_s=900) == 900


def test_a_large_multipart_upload_gets_time_for_a_slow_link_up_to_twelve_hours() -> None:
    # 2 GiB at 256 KiB/s is 8192 s; 20 GiB would be 81920 s, capped at 12 h.
    assert upload_window_s(2048 * MIB, multipart=True, expiry_s=900) == 8192
    assert upload_window_s(20 * 1024 * MIB, multipart=True, expiry_s=900) == 12 * 3600
    assert upload_window_s(120 * MIB, multipart=True, expiry_s=900) == 900


def test_a_request_model_keeps_the_file_name_and_refuses_paths() -> None:
    ok = CreateVideoRequest(filename=" surf session.mp4 ", content_type="video/mp4", size_bytes=1)

    assert ok.filename == "surf session.mp4"
    with pytest.raises(ValueError, match="path separators"):
        CreateVideoRequest(filename="a/b.mp4", content_type="video/mp4", size_bytes=1)


def scanned(*sizes: tuple[int, int], end_s: float | None = 10.0, packets: int = 300, points: int = 0) -> VideoScan:
    return VideoScan(sizes=frozenset(sizes), end_s=end_s, packets=packets, key_packets=len(sizes) if not points else 0,
                     keyframes=len(sizes), points=points, scan_ms=1.0)  # fmt: skip


def test_a_picture_size_over_the_limit_part_way_is_rejected_though_the_index_states_a_small_one() -> None:
    verdict = judge_report(report(H264, AAC), Sniffed.ISO_BMFF, 5000, LIMITS, scanned((1280, 720), (4096, 2304)))

    assert verdict.code == "resolution_too_high"
    assert verdict.rejection is not None and "4096x2304 part-way" in verdict.rejection.message


def test_a_last_frame_stamped_long_after_the_stated_duration_sets_the_duration() -> None:
    verdict = judge_report(report(H264, AAC), Sniffed.ISO_BMFF, 5000, LIMITS, scanned((1280, 720), end_s=36000.1))

    assert verdict.code == "too_long"


def test_a_recording_that_states_no_duration_takes_it_from_its_packets() -> None:
    live = report(H264, AAC, duration=0.0, format_name="matroska,webm")

    without_scan = judge_report(live, Sniffed.WEBM, 5000, LIMITS)
    verdict = judge_report(live, Sniffed.WEBM, 5000, LIMITS, scanned((1280, 720), end_s=12.345))

    assert without_scan.code == "corrupt"
    assert verdict.media is not None and verdict.media.duration_s == 12.345


def test_an_index_promising_more_frames_than_the_file_holds_is_corrupt() -> None:
    verdict = judge_report(report({**H264, "nb_frames": 2**31 - 1}), Sniffed.ISO_BMFF, 5000, LIMITS,
                           scanned((1280, 720), packets=50))  # fmt: skip

    assert verdict.code == "corrupt"


def test_every_track_s_codec_is_checked_not_only_the_first() -> None:
    verdict = judge_report(report(H264, AAC, {"codec_type": "audio", "codec_name": "wmav2"}), Sniffed.ISO_BMFF,
                           5000, LIMITS)  # fmt: skip

    assert verdict.code == "unsupported_codec"


def test_a_sample_point_that_decodes_nothing_means_the_file_lacks_what_its_index_promises() -> None:
    # Eight spread points and the tail: the tail (a truncated upload) decoded nothing
    verdict = judge_report(report(H264), Sniffed.ISO_BMFF, 5000, LIMITS, scanned(*[(1280, 720)] * 8, points=9))

    assert verdict.code == "corrupt"
