"""The ffmpeg command of a cut, checked as built (no ffmpeg run)."""

from pathlib import Path

import pytest

from practika.media import cut, tools

URL = "https://uploads.example/uploads/vid_1?X-Amz-Signature=secret"


@pytest.fixture(autouse=True)
def _binaries(monkeypatch):
    monkeypatch.setattr(tools, "binary", lambda name: f"/opt/bin/{name}")


def command(mode: str) -> list[str]:
    return cut.build_command(URL, Path("/tmp/clip-x/clip.mp4"), seek_s=2.5, end_s=4.5, mode=mode)


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_the_seek_and_both_locks_come_before_the_input(mode):
    args = command(mode)
    before_input = args[: args.index("-i")]

    assert before_input[before_input.index("-ss") + 1] == "2.500000"
    assert "-format_whitelist" in before_input and "-protocol_whitelist" in before_input
    assert "http" not in before_input[before_input.index("-protocol_whitelist") + 1].split(",")
    assert args[args.index("-i") + 1] == URL


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_the_output_is_an_mp4_without_user_metadata(mode):
    args = command(mode)
    after_input = args[args.index("-i") + 2 :]

    assert after_input[after_input.index("-map_metadata") + 1] == "-1"
    assert after_input[after_input.index("-f") + 1] == "mp4"


def test_accurate_writes_a_faststart_file_and_fast_leaves_that_to_its_remux():
    # A fast cut is an intermediate file: a +faststart pass over it would be thrown away.
    # (The delivered clip's moov-before-mdat is checked on real files in the integration tests.)
    accurate, fast = command("accurate"), command("fast")

    assert accurate[accurate.index("-movflags") + 1] == "+faststart"
    assert "-movflags" not in fast


def test_accurate_lasts_exactly_the_requested_length():
    args = command("accurate")
    after_input = args[args.index("-i") + 2 :]

    assert after_input[after_input.index("-t") + 1] == "2.000000"


def test_fast_keeps_source_timestamps_and_ends_at_the_requested_end():
    # The key frame it starts on is then readable from the output; remux_to_zero finishes the clip.
    # The end is an input option: like -ss it counts from the source's start time, where an output
    # -to compared itself with the copied source timestamps (nothing cut from a source starting at 10 s).
    args = command("fast")
    before_input, after_input = args[: args.index("-i")], args[args.index("-i") + 2 :]

    assert "-copyts" in before_input
    assert before_input[before_input.index("-to") + 1] == "4.500000"
    assert "-to" not in after_input


def test_the_source_start_time_is_read_from_ffmpegs_input_dump():
    stderr = "Input #0, mov,mp4, from 'https://x':\n  Duration: 00:00:08.02, start: 9.976009, bitrate: 230 kb/s\n"

    assert cut.source_start_s(stderr) == 9.976009
    assert cut.source_start_s("Duration: N/A, bitrate: N/A\n") == 0.0


def test_fast_copies_the_streams():
    args = command("fast")
    assert args[args.index("-c") + 1] == "copy" and "libx264" not in args


def test_accurate_re_encodes_h264_aac_keeping_every_frame_time():
    args = command("accurate")
    assert args[args.index("-c:v") + 1] == "libx264" and args[args.index("-c:a") + 1] == "aac"
    assert args[args.index("-crf") + 1] == str(cut.ACCURATE_CRF)
    assert args[args.index("-fps_mode") + 1] == "passthrough"


def test_bytes_read_come_from_the_input_statistics_line_which_is_logged_last():
    stderr = (
        "[AVIOContext @ 0x1] Statistics: 22300 bytes read, 0 seeks\n"
        "[AVIOContext @ 0x2] Statistics: 47977 bytes written, 4 seeks, 5 writeouts\n"
        "[AVIOContext @ 0x3] Statistics: 107469 bytes read, 2 seeks\n"
    )
    assert cut._bytes_read(stderr) == 107469
    assert cut._bytes_read("no statistics") is None


def test_a_failed_tool_is_transient_only_for_network_trouble(monkeypatch):
    def fail(stderr: str):
        def run(args: list[str], timeout_s: float) -> tools.ToolResult:
            raise tools.ToolFailed(1, stderr)

        return run

    monkeypatch.setattr(tools, "run", fail(f"Server returned 503 Service Unavailable {URL}"))
    with pytest.raises(cut.CutError) as network:
        cut._run(["ffmpeg"], 5)
    monkeypatch.setattr(tools, "run", fail("Invalid data found when processing input"))
    with pytest.raises(cut.CutError) as corrupt:
        cut._run(["ffmpeg"], 5)

    assert (network.value.code, network.value.transient) == ("source_unreachable", True)
    assert (corrupt.value.code, corrupt.value.transient) == ("cut_failed", False)


@pytest.mark.parametrize(
    ("bytes_per_s", "length_s", "expected"),
    [
        # A 10 s clip of 720p at 2.5 Mb/s spans about 3.75 MB: read in requests of half that
        (312_500, 10.0, 1_875_000),
        # A minute of it would be 9.7 MB requests: capped, S3 keeps streaming a request after a seek
        (312_500, 60.0, cut.MAX_REQUEST_BYTES),
        # A low bitrate, or a source whose duration validation did not measure: the smallest size
        (20_000, 10.0, cut.MIN_REQUEST_BYTES),
        (None, 10.0, cut.MIN_REQUEST_BYTES),
    ],
)
def test_range_requests_are_sized_to_about_half_the_bytes_the_clip_spans(bytes_per_s, length_s, expected):
    assert cut.request_bytes(bytes_per_s, length_s) == expected


def test_the_request_size_reaches_the_inputs_range_options():
    args = cut.build_command(URL, Path("/tmp/c.mp4"), seek_s=2.5, end_s=4.5, mode="fast", request_size=3_000_000)
    before_input = args[: args.index("-i")]

    assert before_input[before_input.index("-request_size") + 1] == "3000000"
    assert before_input[before_input.index("-initial_request_size") + 1] == str(tools.INITIAL_REQUEST_BYTES)


def test_reading_through_the_local_cache_allows_plain_http_and_nothing_else():
    local = "http://127.0.0.1:40000/0123abcd"
    args = cut.build_command(local, Path("/tmp/c.mp4"), seek_s=2.5, end_s=4.5, mode="fast")

    assert args[args.index("-protocol_whitelist") + 1] == "http,tcp"
    assert "-ca_file" not in args


def test_the_cache_fetches_the_clip_where_an_even_byte_rate_puts_it_and_the_index_by_duration():
    # A 30-minute 720p source at 2.5 Mb/s (586 MB), a 10 s clip from its middle
    plan = cut.read_plan(586_000_000, 586_000_000 / 1800, start_s=900.0, length_s=10.0)

    rate = 586_000_000 / 1800
    assert plan.clip_at == int(898.0 * rate)  # from two seconds early: the key frame before the start
    assert plan.clip_bytes == int(14.0 * rate)  # and two seconds past the end
    assert plan.tail_bytes == 1800 * cut.INDEX_BYTES_PER_S  # its 1 MB index, with room
    assert plan.near_clip(plan.clip_at + 1_000_000) and not plan.near_clip(48)


def test_without_a_byte_rate_the_cache_expects_no_clip_anywhere():
    plan = cut.read_plan(50_000_000, None, start_s=10.0, length_s=10.0)

    assert plan.clip_at == -1 and not plan.near_clip(0) and not plan.near_clip(10_000_000)
