"""Which frames of an accurate clip are copied and which re-encoded, decided from packet timestamps."""

from fractions import Fraction

from practika.media.smart import Packet, VideoFacts, concat_script, plan

TICKS = 512  # one frame at 25 fps in a 1/12800 time base


def stream(
    frames: int = 200, gop: int = 25, *, open_gop: bool = False, delay: int = 2, bframes: bool = True, **facts: object
) -> VideoFacts:
    """I B B P... in decode order (a P then the two B-frames shown before it), a key frame every `gop`;
    without `bframes`, I P P P... (decode order is display order).

    `open_gop` puts two B-frames shown before each later key frame after it in decode order.
    """
    packets: list[Packet] = []
    for start in range(0, frames, gop):
        shown = list(range(start, min(start + gop, frames)))
        order = [shown[0]]
        rest = shown[1:] if bframes else []
        order += [] if bframes else shown[1:]
        while rest:
            anchor, leading = rest[2:3] or rest[-1:], rest[:2] if len(rest) > 2 else rest[:-1]
            order += anchor + leading
            rest = rest[len(anchor) + len(leading) :]
        if open_gop and start:
            order = [order[0], start - 1, start - 2, *order[1:]]
            packets = [p for p in packets if p.pts not in ((start - 1) * TICKS, (start - 2) * TICKS)]
        packets += [Packet(pts=f * TICKS, dts=0, key=f == start) for f in order]
    packets = [Packet(p.pts, (i - delay) * TICKS, p.key) for i, p in enumerate(packets)]
    values: dict = {
        "codec": "h264",
        "profile": "High",
        "level": 31,
        "pix_fmt": "yuv420p",
        "field_order": "progressive",
        "refs": 3,
        "colour": {},
        "time_base": Fraction(1, 12800),
        "packets": packets,
        "audio_codec": "aac",
    }
    values.update(facts)
    return VideoFacts(**values)


def kinds(result) -> list[tuple[str, int, int]]:
    return [(s.kind, s.first_pts // TICKS, s.last_pts // TICKS) for s in result.segments]


def test_only_the_partial_gops_at_the_edges_are_re_encoded():
    # Frames 63..160: the last GOP decodes 150 153 151 152 ... 159 157 158 162 160: B-frame 160 needs
    # P-frame 162, shown after the end, so 150..160 are re-encoded.
    result = plan(stream(), 2.5, 6.44)

    assert result.method == "smart"
    assert kinds(result) == [("encode", 63, 74), ("copy", 75, 149), ("encode", 150, 160)]
    assert result.delay == 2 and result.frame_ticks == TICKS


def test_a_last_gop_whose_frames_up_to_the_end_decode_first_is_copied_up_to_the_end():
    stream_ = stream()
    # Frames 63..162: ... 162 160 161 decode before 165, the first frame past the end.
    result = plan(stream_, 2.5, 6.5)

    assert kinds(result) == [("encode", 63, 74), ("copy", 75, 162)]
    first_dropped = next(p for p in stream_.packets if p.pts == 165 * TICKS)
    assert result.segments[-1].until_dts == first_dropped.dts


def test_without_b_frames_only_the_head_is_re_encoded():
    result = plan(stream(bframes=False, delay=0), 2.5, 6.44)

    assert kinds(result) == [("encode", 63, 74), ("copy", 75, 160)]


def test_a_clip_on_key_frames_is_copied_whole():
    result = plan(stream(), 3.0, 6.0)  # frames 75..149

    assert kinds(result) == [("copy", 75, 149)]


def test_a_clip_ending_with_the_stream_copies_the_last_gop():
    result = plan(stream(), 2.5, 8.0)

    assert kinds(result) == [("encode", 63, 74), ("copy", 75, 199)]


def test_without_a_whole_gop_inside_the_clip_is_re_encoded():
    assert plan(stream(), 2.2, 2.9).method == "reencode"
    # Frames 63..85: B-frame 85 needs 87 (decoded before it, shown after the end): nothing to copy.
    assert plan(stream(), 2.5, 3.44).reason == "no_whole_gop_inside"


def test_sources_a_smart_cut_cannot_join_are_re_encoded_and_say_why():
    cases = {
        "codec": stream(codec="hevc"),
        "profile": stream(profile="High 10"),
        "pixel_format": stream(pix_fmt="yuv422p"),
        "interlaced": stream(field_order="tt"),
        "reorder_depth": stream(delay=3),
        "open_gop": stream(open_gop=True),
    }
    for reason, facts in cases.items():
        result = plan(facts, 2.5, 6.5)
        assert (result.method, result.reason) == ("reencode", reason)
        assert kinds(result) == [("encode", 63, 162)]


def test_a_source_whose_video_is_not_the_first_stream_is_re_encoded():
    result = plan(stream(video_index=1), 2.5, 6.5)

    assert (result.method, result.reason) == ("reencode", "stream_layout")


def test_the_join_script_keeps_every_frame_at_its_source_time_minus_the_clips_zero():
    # A 1/23000 time base: key frame 75 is shown at 1669565.22 us and key frame 150 decoded at
    # 3294608.70 us, so rounding to the nearest microsecond would put the in-point before K1 (the
    # seek would land a GOP early) and the out-point after the first packet not copied.
    facts = stream(time_base=Fraction(1, 23000))
    tick_us = Fraction(1_000_000, 23000)
    result = plan(facts, 63 * 512 / 23000 - 0.001, 160.5 * 512 / 23000)  # frames 63..160
    assert kinds(result) == [("encode", 63, 74), ("copy", 75, 149), ("encode", 150, 160)]

    script = concat_script(result, facts, ["head.mp4", "copy.mp4", "tail.mp4"]).splitlines()
    files = [line.split()[1] for line in script if line.startswith("file ")]
    values = {line.split()[0]: int(line.split()[1].removesuffix("us")) for line in script if line.endswith("us")}
    durations = [int(line.split()[1].removesuffix("us")) for line in script if line.startswith("duration ")]

    assert script[:3] == ["ffconcat version 1.0", "stream", "exact_stream_id 1"]
    assert files == ["head.mp4", "copy.mp4", "tail.mp4"]
    # The demuxer's seek lands on the middle's key frame (75), never on the one before it...
    assert 0 <= values["inpoint"] - 75 * 512 * tick_us < 1
    # ...and it stops at the first packet not copied: key frame 150, decoded 2 frames before it is shown
    first_dropped = next(p for p in facts.packets if p.pts == 150 * 512)
    assert 0 <= first_dropped.dts * tick_us - values["outpoint"] < 1
    # Each file starts where the previous one's duration ends: the head from the clip's zero (the
    # request, 0.001 s before frame 63) to frame 75, the middle from 75 to 150, the tail to past 160.
    zero_us = (63 * 512 / 23000 - 0.001) * 1_000_000
    assert abs(durations[0] - (75 * 512 * tick_us - zero_us)) <= 1
    assert abs(durations[1] - 75 * 512 * tick_us) <= 1
    assert abs(durations[2] - 11 * 512 * tick_us) <= 1
