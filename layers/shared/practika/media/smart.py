"""Frame-exact H.264 clips that re-encode only the partial GOPs at their edges ("smart" cuts).

Input: a local stream copy of the source from the key frame at or before the requested start to
the requested end, with source timestamps (the fast cut's first step, so S3 is read once). Then:

- head: the frames from the requested start to the first key frame inside the clip are decoded
  from the preceding key frame and re-encoded;
- middle: every packet from that key frame on is copied, chosen by decode time, straight from the
  copy: the join reads it there, so the bulk of the clip passes through one ffmpeg run only;
- tail: when the clip ends inside a GOP (frames of that GOP lie past the end), the frames from
  its key frame to the end are re-encoded, as the copied P/B-frames would reference dropped ones.

The encoder matches the source's profile, level, pixel format, colour and reorder depth (so the
segments' decode timestamps follow on), and gives its parameter sets other ids than the source's.
The re-encoded edges are MP4s in the copy's time base; the concat demuxer joins edges and middle
(each with its parameter sets in-band before every IDR) and the result is muxed to MP4 with the
audio copied for exactly the clip's frames.

A source that cannot be cut this way safely (not H.264, a profile or pixel format x264 here does
not write, open GOPs, a reorder depth x264 cannot reproduce, a key frame too late) is re-encoded
whole from the same local copy: `Plan.method` says which was done and `Plan.reason` why.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from practika.media import tools

SMART, REENCODE = "smart", "reencode"
CRF = 20
PRESET = "veryfast"
# The edges (at most a GOP each) are what an accurate clip waits for: x264's fastest preset, with
# its deblocking filter back on. On a phone recording (720x1280 at 60 fps, High, B-pyramid; a
# 188-frame head) against the source's frames: veryfast CRF 20 3.5 s, 41.9 dB PSNR, SSIM 0.990,
# 1.4 MB; ultrafast CRF 23 1.3-1.6 s, 41.0 dB, 0.982, 2.2 MB; ultrafast CRF 20 with deblocking
# 1.5 s, 42.7 dB, 0.989, 3.1 MB: the first version's fidelity in 40% of its time, for 2.2x the
# edge's bytes. (The bench's synthetic testsrc2 had ranked ultrafast CRF 23 first, 53 dB.)
EDGE_PRESET, EDGE_CRF = "ultrafast", 20
EDGE_X264 = "deblock=0,0"  # ultrafast turns the loop filter off; natural footage shows its blocks
AUDIO_BITRATE = "128k"
# H.264 profiles (as ffprobe names them) the layer's 8-bit x264 writes; others are re-encoded.
_PROFILES = {"Constrained Baseline": "baseline", "Baseline": "baseline", "Main": "main", "High": "high"}
_PIXEL_FORMATS = {"yuv420p", "yuvj420p"}
# x264's reorder depth is 0 (no B-frames), 1 (B-frames) or 2 (B-pyramid); segments must share it.
_BFRAMES_FOR_DELAY = {0: ("0", "none"), 1: ("2", "none"), 2: ("3", "normal")}
# The source normally uses SPS/PPS id 0: re-encoded segments bring their own, never redefining it.
HEAD_SPS_ID, TAIL_SPS_ID = 1, 2
# Re-encoded edges' timestamps are moved up by this much, so a B-frame's negative decode time at
# the start of a source never makes the MP4 muxer shift an edge and not the copied middle.
TS_OFFSET_S = 10
# The join reads our own concat script and the MP4s we wrote, nothing else.
JOIN_FORMATS = "concat,mov,mp4,m4a,3gp,3g2,mj2"
_EPSILON = Fraction(1, 1_000_000)


@dataclass(frozen=True)
class Packet:
    pts: int
    dts: int
    key: bool


@dataclass(frozen=True)
class VideoFacts:
    """The copied video stream: codec parameters and its packets in decode order (time-base ticks)."""

    codec: str
    profile: str | None
    level: int | None
    pix_fmt: str | None
    field_order: str | None
    refs: int | None
    colour: dict[str, str]
    time_base: Fraction
    packets: list[Packet]
    audio_codec: str | None  # of the first audio stream; None when silent
    video_index: int = 0


@dataclass(frozen=True)
class Segment:
    kind: str  # "encode" or "copy"
    first_pts: int  # first and last frame (presentation time) it holds
    last_pts: int
    until_dts: int | None = None  # copy: decode time of the first packet not copied (None: to the end)


@dataclass(frozen=True)
class Plan:
    method: str
    segments: list[Segment]
    first_pts: int
    last_pts: int
    frame_ticks: int
    delay: int
    reason: str | None = None
    frames: tuple[int, ...] = ()  # presentation times of the clip's frames
    zero_pts: int = 0  # the requested start: the clip's zero, where its first frame is shown from


def facts_command(path: Path) -> list[str]:
    """ffprobe of a local file we wrote (file protocol only): the video stream's codec parameters
    and every packet's times (the audio's packets are not needed and cost more than the video's)."""
    return [
        tools.binary("ffprobe"), "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file",
        "-select_streams", "v:0", "-show_entries",
        "stream=index,codec_type,codec_name,profile,level,pix_fmt,field_order,refs,time_base,"
        "color_range,color_space,color_transfer,color_primaries:packet=pts,dts,flags",
        "-of", "json", str(path),
    ]  # fmt: skip


def audio_command(path: Path) -> list[str]:
    """ffprobe of the same file for the codec of its first audio stream (none: silent)."""
    return [tools.binary("ffprobe"), "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file",
            "-select_streams", "a:0", "-show_entries", "stream=codec_name", "-of", "json", str(path)]  # fmt: skip


def parse_facts(stdout: bytes, audio_stdout: bytes = b"") -> VideoFacts:
    """`facts_command`'s output (and `audio_command`'s) as VideoFacts."""
    document: dict[str, Any] = json.loads(stdout or b"{}")
    video = next((s for s in document.get("streams", []) if s.get("codec_type") == "video"), None)
    if video is None:
        raise ValueError("no video stream")
    packets = [
        Packet(pts=int(p["pts"]), dts=int(p.get("dts", p["pts"])), key="K" in p.get("flags", ""))
        for p in document.get("packets", [])
        if p.get("pts") is not None
    ]
    audio = json.loads(audio_stdout or b"{}").get("streams", [])
    colour_fields = ("color_range", "color_space", "color_transfer", "color_primaries")
    return VideoFacts(
        codec=video.get("codec_name", ""),
        profile=video.get("profile"),
        level=video.get("level"),
        pix_fmt=video.get("pix_fmt"),
        field_order=video.get("field_order"),
        refs=video.get("refs"),
        colour={k: video[k] for k in colour_fields if video.get(k) not in (None, "unknown", "reserved")},
        time_base=Fraction(video.get("time_base", "1/90000")),
        packets=packets,
        audio_codec=audio[0].get("codec_name", "") if audio else None,
        video_index=int(video["index"]),
    )


def plan(facts: VideoFacts, start_s: float, end_s: float) -> Plan:
    """Which frames make the clip [start_s, end_s) (source timestamps, seconds), and which of them
    can be copied. A frame within a microsecond of a bound counts as on it."""
    start = (Fraction(start_s) - _EPSILON) / facts.time_base
    end = (Fraction(end_s) - _EPSILON) / facts.time_base
    zero = round(Fraction(start_s) / facts.time_base)
    shown = sorted(p.pts for p in facts.packets)
    wanted = [pts for pts in shown if start <= pts < end]
    if not wanted:
        raise ValueError("no frame in the range")
    # The usual distance between frames (variable frame rates have one that is most common).
    steps = Counter(b - a for a, b in itertools.pairwise(shown) if b > a)
    frame_ticks = steps.most_common(1)[0][0] if steps else max(1, round(Fraction(1, 25) / facts.time_base))
    first, last = wanted[0], wanted[-1]

    def fallback(reason: str) -> Plan:
        segments = [Segment("encode", first, last)]
        return Plan(REENCODE, segments, first, last, frame_ticks, 0, reason, tuple(wanted), zero)

    if facts.codec != "h264":
        return fallback("codec")
    if facts.profile not in _PROFILES:
        return fallback("profile")
    if facts.pix_fmt not in _PIXEL_FORMATS:
        return fallback("pixel_format")
    if facts.field_order not in (None, "progressive", "unknown"):
        return fallback("interlaced")
    if facts.video_index != 0 or facts.time_base.numerator != 1:
        # The concat demuxer matches the edges' only stream to the copy's by index, and the edges
        # are written in the copy's time base (an MP4 timescale is 1/N).
        return fallback("stream_layout")
    order = facts.packets
    keys = [i for i, p in enumerate(order) if p.key and first <= p.pts <= last]
    if not keys:
        return fallback("no_key_frame_inside")
    if order[keys[0]].pts == first and zero < first:
        # The first frame is a key frame shown after the requested start: it is re-encoded (with
        # its GOP) so that it can be shown from the clip's zero, where the audio starts.
        keys = keys[1:]
        if not keys:
            return fallback("no_whole_gop_inside")
    k1, kl = keys[0], keys[-1]
    # The last GOP is copied up to the clip's end when its frames shown by then come first in
    # decode order (a frame refers only to frames decoded before it, so none of them needs a
    # dropped one: always so without B-frames); else those frames are re-encoded, since a copied
    # B-frame could refer to a dropped frame decoded before it.
    gop_end = next((i for i in range(kl + 1, len(order)) if order[i].key), len(order))
    last_gop = order[kl:gop_end]
    shown_by_end = next((i for i, p in enumerate(last_gop) if p.pts > last), len(last_gop))
    needs_tail = any(p.pts <= last for p in last_gop[shown_by_end:])
    copy_end = kl if needs_tail else kl + shown_by_end
    if copy_end <= k1:
        return fallback("no_whole_gop_inside")
    copied = order[k1:copy_end]
    copy_last = max(p.pts for p in copied)
    # Closed GOPs: what follows a cut key frame in decode order is shown after it, and the packets
    # shown between the cut points are exactly the copied ones (else a copied frame needs a dropped one).
    outside = order[:k1] + order[copy_end:]
    if (
        any(p.pts < order[k1].pts for p in copied)
        or any(order[k1].pts <= p.pts <= copy_last for p in outside)
        or (needs_tail and any(p.pts < order[kl].pts for p in order[kl:]))
    ):
        return fallback("open_gop")
    delay_ticks = order[k1].pts - order[k1].dts
    delay = round(delay_ticks / frame_ticks)
    if delay not in _BFRAMES_FOR_DELAY or delay * frame_ticks != delay_ticks:
        return fallback("reorder_depth")
    segments = []
    if first < order[k1].pts:
        segments.append(Segment("encode", first, max(p for p in wanted if p < order[k1].pts)))
    until = order[copy_end].dts if copy_end < len(order) else None
    segments.append(Segment("copy", order[k1].pts, copy_last, until))
    if needs_tail:
        segments.append(Segment("encode", order[kl].pts, last))
    return Plan(SMART, segments, first, last, frame_ticks, delay, None, tuple(wanted), zero)


def encoder_args(facts: VideoFacts, plan_: Plan, sps_id: int) -> list[str]:
    """libx264 settings: the source's where segments are joined to copied ones, plain otherwise."""
    crf, preset = (EDGE_CRF, EDGE_PRESET) if plan_.method == SMART else (CRF, PRESET)
    args = ["-c:v", "libx264", "-crf", str(crf), "-preset", preset, "-pix_fmt", "yuv420p"]
    if plan_.method != SMART:
        return args
    bframes, pyramid = _BFRAMES_FOR_DELAY[plan_.delay]
    args += ["-profile:v", _PROFILES[str(facts.profile)], "-bf", bframes]
    if facts.level:
        args += ["-level:v", str(facts.level)]
    if facts.refs:
        args += ["-refs", str(max(1, facts.refs))]
    if facts.pix_fmt == "yuvj420p":
        args += ["-color_range", "pc"]
    names = {"color_range": "color_range", "color_space": "colorspace", "color_transfer": "color_trc",
             "color_primaries": "color_primaries"}  # fmt: skip
    for field, value in facts.colour.items():
        args += [f"-{names[field]}", value]
    args += ["-x264-params", f"sps-id={sps_id}:b-pyramid={pyramid}:{EDGE_X264}"]
    return args


def _seconds(ticks: float, facts: VideoFacts) -> str:
    return f"{float(ticks * facts.time_base):.6f}"


def _edge_output(path: Path, facts: VideoFacts) -> list[str]:
    return ["-output_ts_offset", str(TS_OFFSET_S), "-video_track_timescale", str(facts.time_base.denominator),
            "-f", "mp4", "-y", str(path)]  # fmt: skip


def _frames_filter(segment: Segment, zero_pts: int | None) -> str:
    """Exactly the segment's frames, by their timestamps in the stream's own ticks; with `zero_pts`,
    the first is shown from the clip's zero (the requested start), where the audio starts."""
    kept = f"trim=start_pts={segment.first_pts}:end_pts={segment.last_pts + 1}"
    return kept if zero_pts is None else kept + f",setpts='if(eq(N\\,0)\\,{zero_pts}\\,PTS)'"


def segment_command(copied: Path, output: Path, facts: VideoFacts, plan_: Plan, index: int) -> list[str]:
    """The ffmpeg command that re-encodes segment `index` of the plan (an edge) to an MP4 in source
    time (+offset), in the copy's time base."""
    segment = plan_.segments[index]
    if segment.kind != "encode":
        raise ValueError("only the edges are written apart: the join reads the middle from the copy")
    base = [tools.binary("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-copyts"]
    # Decode from the key frame at or before the segment (the copy starts on one: the head decodes
    # from there; a tail seeks to its own key frame), keep exactly the segment's frames.
    seek: list[str] = []
    if index > 0:
        seek = ["-seek_timestamp", "1", "-noaccurate_seek", "-ss", _seconds(segment.first_pts + 0.5, facts)]
    trim = _frames_filter(segment, plan_.zero_pts if index == 0 else None)
    sps_id = HEAD_SPS_ID if index == 0 else TAIL_SPS_ID
    # One decoding thread: a GOP is too short for frame threads to pay for their start.
    return [*base, "-protocol_whitelist", "file", "-threads", "1", *seek, "-i", str(copied),
            "-map", "0:v:0", "-vf", trim, *encoder_args(facts, plan_, sps_id),
            "-enc_time_base:v", "demux", "-fps_mode", "passthrough",
            *_edge_output(output, facts)]  # fmt: skip


def concat_script(plan_: Plan, facts: VideoFacts, files: list[str]) -> str:
    """The concat demuxer's script for the plan: segment i read from `files[i]` (names beside the
    script): an edge's MP4, or the copy, from the middle's key frame to its `until_dts`.

    The demuxer starts each file where the previous one's `duration` ends, so the durations are the
    distances between the segments' first frames and every frame keeps its source time minus the
    clip's zero. Times are whole microseconds: the in-point rounds up and the out-point down, so the
    seek lands on the middle's key frame and the cut stops before the first packet not copied.
    """

    def micros(ticks: int, rounding: Any = round) -> str:
        return f"{rounding(ticks * facts.time_base * 1_000_000)}us"

    starts = [plan_.zero_pts, *(segment.first_pts for segment in plan_.segments[1:])]
    ends = [*starts[1:], plan_.last_pts + plan_.frame_ticks]
    # Only the video: ffmpeg's MP4 muxer numbers tracks from 1 in stream order, and the video is the
    # copy's first stream (else the plan fell back) and the edges' only one. The copy's audio
    # packets are dropped inside the demuxer, not handed to ffmpeg one by one.
    lines = ["ffconcat version 1.0", "stream", "exact_stream_id 1"]
    for segment, name, start, end in zip(plan_.segments, files, starts, ends, strict=True):
        lines.append(f"file {name}")
        if segment.kind == "copy":
            lines.append(f"inpoint {micros(segment.first_pts, math.ceil)}")
            if segment.until_dts is not None:
                lines.append(f"outpoint {micros(segment.until_dts, math.floor)}")
        lines.append(f"duration {micros(end - start)}")
    return "\n".join(lines) + "\n"


def join_command(script: Path, copied: Path, output: Path, facts: VideoFacts, plan_: Plan) -> list[str]:
    """Join the segments (`concat_script`, in the copy's folder), add the audio cut to the clip's
    frames, write a faststart MP4."""
    # The demuxer's timeline starts at the clip's zero: moved to the copy's (+offset) for the audio.
    zero = float(plan_.zero_pts * facts.time_base) + TS_OFFSET_S
    # -xerror: a decode time that does not follow on fails the join (ffmpeg would otherwise move it
    # and write the clip with a warning), and the clip is re-encoded whole instead.
    args = [tools.binary("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-xerror", "-copyts",
            "-format_whitelist", JOIN_FORMATS, "-protocol_whitelist", "file", "-f", "concat", "-safe", "1",
            "-itsoffset", f"{zero:.6f}", "-i", str(script)]  # fmt: skip
    maps = ["-map", "0:v:0", "-c:v", "copy"]
    end = float((plan_.last_pts + plan_.frame_ticks) * facts.time_base) + TS_OFFSET_S
    if facts.audio_codec is not None:
        args += ["-protocol_whitelist", "file", "-itsoffset", str(TS_OFFSET_S), "-i", str(copied)]
        maps += ["-map", "1:a:0", *audio_args(facts, plan_, zero, end)]
    # The first frame is the clip's zero: what starts before it (B-frame decode times, audio
    # priming or the part of an audio packet before the first frame) goes behind an edit list.
    return [*args, *maps, "-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn",
            "-output_ts_offset", f"{-zero:.6f}", "-avoid_negative_ts", "disabled",
            "-movflags", "+faststart", "-f", "mp4", "-y", str(output)]  # fmt: skip


def audio_args(facts: VideoFacts, plan_: Plan, start: float, end: float) -> list[str]:
    """AAC beside a smart-cut video is copied: the packets that overlap the clip, the part of the first
    before the clip's start cut off by the edit list (exact), the last ending at most one audio frame
    (about 21 ms) before the video's end, never after it. Re-encoding it cost about 0.45 CPU-s per minute of clip, as
    much as the video's edges. Other audio, and audio beside a re-encoded video, is re-encoded to AAC
    with sample-exact ends."""
    if plan_.method == SMART and facts.audio_codec == "aac":
        # Nothing past the last frame's end: the container's duration stays the video's.
        drop = f"noise=drop='lte((pts+duration)*tb\\,{start:.6f})+gt((pts+duration)*tb\\,{end + 0.001:.6f})'"
        return ["-c:a", "copy", "-bsf:a", drop]
    return ["-af", f"atrim=start={start:.6f}:end={end:.6f}", "-c:a", "aac", "-b:a", AUDIO_BITRATE]


def reencode_command(copied: Path, output: Path, facts: VideoFacts, plan_: Plan) -> list[str]:
    """The whole clip re-encoded from the copy in one run (no segments, no join): the same frames,
    zero and audio as a smart cut, in the source's time base."""
    segment = plan_.segments[0]
    zero = float(plan_.zero_pts * facts.time_base)
    end = float((plan_.last_pts + plan_.frame_ticks) * facts.time_base)
    trim = _frames_filter(segment, plan_.zero_pts)
    args = [tools.binary("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-copyts",
            "-protocol_whitelist", "file", "-i", str(copied), "-map", "0:v:0", "-vf", trim,
            *encoder_args(facts, plan_, 0), "-enc_time_base:v", "demux", "-fps_mode", "passthrough"]  # fmt: skip
    if facts.audio_codec is not None:
        args += ["-map", "0:a:0", "-af", f"atrim=start={zero:.6f}:end={end:.6f}", "-c:a", "aac", "-b:a", AUDIO_BITRATE]
    return [*args, "-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn",
            "-output_ts_offset", f"{-zero:.6f}", "-avoid_negative_ts", "disabled",
            "-movflags", "+faststart", "-f", "mp4", "-y", str(output)]  # fmt: skip


def well_formed(probe: dict[str, Any], facts: VideoFacts, plan_: Plan) -> bool:
    """The joined clip (ffprobe's streams) holds one video packet per planned frame (its MP4 index's
    sample count) and lasts from the clip's zero to the end of its last frame (within a frame: a gap
    between segments makes it longer). Decode order is the join's to keep: it runs with -xerror, so
    ffmpeg fails it rather than move a time."""
    video: dict[str, Any] = next((s for s in probe.get("streams", []) if s.get("codec_type") == "video"), {})
    planned = (plan_.last_pts + plan_.frame_ticks - plan_.zero_pts) * facts.time_base
    try:
        count, duration = int(video["nb_frames"]), Fraction(video["duration"])
    except (KeyError, ValueError):
        return False
    return count == len(plan_.frames) and abs(duration - planned) < plan_.frame_ticks * facts.time_base


def whole(plan_: Plan, reason: str) -> Plan:
    """The same clip re-encoded whole (when the smart join did not come out well formed)."""
    segment = Segment("encode", plan_.first_pts, plan_.last_pts)
    return Plan(
        REENCODE, [segment], plan_.first_pts, plan_.last_pts, plan_.frame_ticks, 0, reason, plan_.frames, plan_.zero_pts
    )
