"""Which frames of an accurate clip are copied and which re-encoded, decided from packet timestamps."""

from fractions import Fraction

from practika.media.smart import Packet, VideoFacts, plan

TICKS = 512  # one frame at 25 fps in a 1/12800 time base


def stream(frames: int = 200, gop: int = 25, *, open_gop: bool = False, delay: int = 2, **facts: object) -> VideoFacts:
    """I B B P... in decode order (a P then the two B-frames shown before it), a key frame every `gop`.

    `open_gop` puts two B-frames shown before each later key frame after it in decode order.
    """
    packets: list[Packet] = []
    for start in range(0, frames, gop):
        shown = list(range(start, min(start + gop, frames)))
        order = [shown[0]]
        rest = shown[1:]
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
    result = plan(stream(), 2.5, 6.5)  # frames 63..162

    assert result.method == "smart"
    assert kinds(result) == [("encode", 63, 74), ("copy", 75, 149), ("encode", 150, 162)]
    assert result.delay == 2 and result.frame_ticks == TICKS


def test_a_clip_on_key_frames_is_copied_whole():
    result = plan(stream(), 3.0, 6.0)  # frames 75..149

    assert kinds(result) == [("copy", 75, 149)]


def test_a_clip_ending_with_the_stream_copies_the_last_gop():
    result = plan(stream(), 2.5, 8.0)

    assert kinds(result) == [("encode", 63, 74), ("copy", 75, 199)]


def test_without_a_whole_gop_inside_the_clip_is_re_encoded():
    assert plan(stream(), 2.2, 2.9).method == "reencode"
    assert plan(stream(), 2.5, 3.5).reason == "no_whole_gop_inside"


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
