"""Cutting a clip out of a source that stays in S3, with ffmpeg driven through ffmpeg-python.

The source is read over a presigned GET with `-ss` before `-i`: ffmpeg seeks in the index
(the moov atom, wherever it sits) and asks only for the byte ranges of the clip, so the cost
grows with the clip, not with the source. The input carries the same demuxer and protocol
locks as validation.

- `fast`: stream copy, in one read of the source. A copy can only start on a key frame: ffmpeg
  seeks to the key frame at or before the requested start and, with `-copyts`, writes the
  packets from there with their source timestamps, so ffprobe of that file says which key frame
  it is. The end is an input `-to`: like `-ss` it counts from the source's start time, where an
  output `-to` compared itself with source timestamps and cut nothing from a source starting
  at 10 s. A local remux (a file of the clip's size, no S3 read) then drops the audio packets
  that start before that key frame (the seek lands audio a few frames early) and moves the key
  frame to zero, so every stream starts at zero (audio within one audio frame), with no hidden
  pre-roll behind an edit list and no lead-in. Asking ffprobe for the key frame first read the
  source's index a second time.
- `accurate`: the same one read of the source into a local copy, then `practika.media.smart`:
  H.264 re-encodes only the frames before the first key frame inside the clip and after the
  last one (when that GOP runs past the end) and copies every other packet; other sources are
  re-encoded whole from the copy. Either way the first and last frames are the asked-for ones
  (the first source frame at or after the start, the last before the end), the first at zero.
  A source whose streams do not fit in an MP4 stream copy (VP8, Vorbis) is re-encoded straight
  from S3 as before smart cuts: ffmpeg decodes from the preceding key frame and drops every frame
  before the requested start; the first picture is shown from the clip's zero (where the audio
  starts). Timestamps keep the source's time base and are passed through, so no frame is dropped
  or duplicated by rounding to a frame grid.

Start, end and duration are then measured by ffprobe on what was written: `duration_s` is the
container's duration, what a player shows for the downloaded file.
"""

import json
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from practika.media import rangecache, smart, tools
from practika.observability import logger, redact, tracer

ACCURATE_CRF = smart.CRF
# Lambda bills by the millisecond; slower x264 presets buy little at clip lengths.
ACCURATE_PRESET = smart.PRESET
AUDIO_BITRATE = smart.AUDIO_BITRATE
ACCURATE_READ_PAST_END_S = 0.5
COPY = "copy"  # how a clip was made (`CutResult.method`): stream copy, smart cut or full re-encode

# ffmpeg/ffprobe failures that come from the network or S3, not from the media: worth a retry.
_TRANSIENT_STDERR = re.compile(
    r"Server returned 5\d\d|Connection (refused|reset|timed out)|timed out|Input/output error"
    r"|Server returned 403|Network is unreachable|Temporary failure in name resolution",
    re.IGNORECASE,
)
# Range requests after the first (media.tools.input_options) are sized to the clip. A cut reads the
# source in a few round trips ffmpeg makes one after another (the head, the index, the first packets
# for stream info, then the clip's bytes), each paying S3's time to first byte (60 ms or more from
# Lambda): 256 KiB requests made a 10 s clip of a 30-minute source 21 GETs, 1 MiB 8 GETs and a 60 s
# clip 23. About half the bytes the clip spans per request reads a clip in two or three: every seek
# leaves the request before it streaming until the next one answers, so bigger requests buy fewer
# round trips with bytes S3 sends for nothing (1-8 MiB: 10 s clips at x1.3 the bytes they span, 60 s
# clips in 7 GETs instead of 23; bench/README).
# Validation reads the index in small pieces and keeps its own, smaller sizes (media.probe).
MIN_REQUEST_BYTES = 1024 * 1024
MAX_REQUEST_BYTES = 8 * 1024 * 1024
# What a clip spans beyond its length: the seek lands up to a GOP early (2-4 s in camera files).
_SPAN_MARGIN_S = 2.0
# Read through the local cache (`read_plan`): the head holds the header and the first packets; an MP4
# index takes about 570 bytes per second of 25 fps video with AAC (35 KB for 1 minute, 1,018 KB for
# 30), 768 leaves room (a shorter guess costs one round trip, not a wrong clip).
HEAD_BYTES = 128 * 1024
INDEX_BYTES_PER_S = 768
MIN_INDEX_BYTES, MAX_INDEX_BYTES = 64 * 1024, 4 * 1024 * 1024
MAX_SPAN_BYTES = 32 * 1024 * 1024
_BYTES_READ = re.compile(r"Statistics: (\d+) bytes read")
# The source's start time as ffmpeg's input dump states it: `-ss` and `-to` count from it.
_SOURCE_START = re.compile(r"Duration: [^,]*, start: (-?[\d.]+)")
# Dropping the packets shown before the key frame may not lose one at that very time.
_DROP_SLACK_S = 0.0005
# A presigned URL's query is a bearer credential: never let it reach the logs.


class CutError(Exception):
    """A cut that did not produce a clip; `transient` says whether trying again may help."""

    def __init__(self, code: str, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.transient = transient


@dataclass(frozen=True)
class CutResult:
    path: Path
    start_s: float
    end_s: float
    duration_s: float
    video_duration_s: float
    audio_duration_s: float | None
    size_bytes: int
    source_bytes_read: int | None
    width: int = 0
    height: int = 0
    fps: float = 0.0
    method: str = COPY


def read_plan(size: int, source_bytes_per_s: float | None, start_s: float, length_s: float) -> rangecache.Plan:
    """What the local cache fetches for a clip [start_s, start_s + length_s) of a source of `size`
    bytes: an index sized to the source's duration at the end, and the clip's expected span where
    its bytes are expected (an even byte rate; a read within a tenth of the file of it counts)."""
    if not source_bytes_per_s or source_bytes_per_s <= 0:
        return rangecache.Plan(HEAD_BYTES, MAX_INDEX_BYTES // 4, clip_at=-1, clip_bytes=MIN_REQUEST_BYTES, clip_slack=0)
    index = size / source_bytes_per_s * INDEX_BYTES_PER_S
    span_s = length_s + 2 * _SPAN_MARGIN_S  # a GOP early at the start, interleaving at the end
    span = int(min(MAX_SPAN_BYTES, max(rangecache.PIECE_BYTES, source_bytes_per_s * span_s)))
    return rangecache.Plan(
        head_bytes=HEAD_BYTES,
        tail_bytes=int(min(MAX_INDEX_BYTES, max(MIN_INDEX_BYTES, index))),
        clip_at=int(max(0.0, start_s - _SPAN_MARGIN_S) * source_bytes_per_s),
        clip_bytes=span,
        clip_slack=max(2 * span, size // 10),
    )


def request_bytes(source_bytes_per_s: float | None, length_s: float) -> int:
    """Range request size for cutting `length_s` seconds of a source of `source_bytes_per_s` (None:
    not known, the smallest size)."""
    if not source_bytes_per_s or source_bytes_per_s <= 0:
        return MIN_REQUEST_BYTES
    half_span = source_bytes_per_s * (length_s + _SPAN_MARGIN_S) / 2
    return int(min(MAX_REQUEST_BYTES, max(MIN_REQUEST_BYTES, half_span)))


def build_command(
    url: str, output: Path, *, seek_s: float, end_s: float, mode: str, request_size: int = MIN_REQUEST_BYTES
) -> list[str]:
    """The ffmpeg command line for one cut (input seeking, locked input, MP4 output, range requests of
    `request_size` bytes).

    A `fast` cut keeps the source's timestamps (`-copyts`, ending at `end_s`): `remux_to_zero`
    finishes it.
    """
    common: dict[str, Any] = {
        "map_metadata": -1,  # the user's GPS tags and device names stay in their source
        "map_chapters": -1,
        "sn": None,
        "dn": None,
        "f": "mp4",
    }
    input_options: dict[str, str | None] = dict(tools.input_options(url, request_bytes=request_size))
    if mode == "fast":
        # No +faststart here: remux_to_zero writes the file that is kept, and a second pass over
        # this one would only be thrown away.
        codec: dict[str, Any] = {"c": "copy"}
        input_options["copyts"] = None
        input_options["to"] = f"{end_s:.6f}"
    else:
        codec = {
            "movflags": "+faststart",
            "c:v": "libx264",
            "crf": ACCURATE_CRF,
            "preset": ACCURATE_PRESET,
            "pix_fmt": "yuv420p",
            "enc_time_base:v": "demux",
            "fps_mode": "passthrough",
            # The first frame at or after the start is shown from zero, where the audio starts.
            "vf": "setpts='if(eq(N,0),0,PTS)'",
            "c:a": "aac",
            "b:a": AUDIO_BITRATE,
            "t": f"{end_s - seek_s:.6f}",
        }
    source = ffmpeg.input(url, ss=f"{seek_s:.6f}", **input_options)
    stream = source.output(str(output), **codec, **common)
    args: list[str] = stream.global_args("-nostdin", "-hide_banner", "-loglevel", "verbose").compile(
        cmd=tools.binary("ffmpeg"), overwrite_output=True
    )
    return args


def remux_to_zero(source: Path, output: Path, keyframe_ts: float, timeout_s: float) -> None:
    """Move a `-copyts` cut so its key frame (`keyframe_ts`, source timestamps) is at zero, without
    the packets shown before it (a local stream copy; only the file protocol is allowed).

    `-avoid_negative_ts make_zero` moved the first packet to zero instead: audio that led the
    key frame, or the key frame's negative decode time under B-frames, left the video starting
    0.08 s after the file. Shown before the key frame are the audio the seek landed early and, in
    an open GOP, the B-frames that refer to the GOP before it (they cannot be decoded from here).
    """
    drop = f"noise=drop='lt(pts*tb\\,{keyframe_ts - _DROP_SLACK_S:.6f})'"
    args = [
        tools.binary("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-protocol_whitelist", "file", "-copyts", "-i", str(source),
        "-map", "0", "-c", "copy", "-bsf", drop, "-output_ts_offset", f"{-keyframe_ts:.6f}",
        "-movflags", "+faststart", "-f", "mp4", "-y", str(output),
    ]  # fmt: skip
    _run(args, timeout_s)


def keyframe_ts(path: Path, timeout_s: float) -> float:
    """Display time of the first video packet of a `-copyts` cut (the key frame ffmpeg seeked to)."""
    args = [
        tools.binary("ffprobe"), "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file",
        "-select_streams", "v:0", "-read_intervals", "%+#1", "-show_entries", "packet=pts_time",
        "-of", "json", str(path),
    ]  # fmt: skip
    packets = json.loads(_run(args, timeout_s).stdout or b"{}").get("packets", [])
    if not packets or packets[0].get("pts_time") is None:
        raise CutError("empty_clip", "the cut produced no video", transient=False)
    return float(packets[0]["pts_time"])


def probe_output(path: Path, timeout_s: float) -> dict[str, Any]:
    """ffprobe of the clip we wrote (a local file we made, so only the file protocol is allowed).
    `nb_frames` is the MP4 index's sample count (what a smart join's check counts): reading every
    packet to count them (`-count_packets`) cost 0.011 s of a 10 s clip's 0.5."""
    stream = "codec_type,start_time,duration,width,height,avg_frame_rate,nb_frames"
    args = [tools.binary("ffprobe"), "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file",
            "-show_entries", f"stream={stream}:format=start_time,duration", "-of", "json", str(path)]  # fmt: skip
    facts: dict[str, Any] = json.loads(_run(args, timeout_s).stdout or b"{}")
    return facts


@tracer.capture_method
@contextmanager
def cut_clip(
    url: str,
    *,
    start_s: float,
    end_s: float,
    mode: str,
    timeout_s: float,
    source_bytes_per_s: float | None = None,
    source_size: int | None = None,
) -> Iterator[CutResult]:
    """Cut [start_s, end_s) of the source at `url` into a temporary MP4, removed when the block ends.

    All tools together get `timeout_s`; one still running at the deadline is killed.
    `source_bytes_per_s` (the source's size over its duration) sizes the range requests;
    `source_size` (its bytes) lets ffmpeg read it through a local cache (`practika.media.rangecache`).
    """
    request_size = request_bytes(source_bytes_per_s, end_s - start_s)
    deadline = time.monotonic() + timeout_s
    workdir = Path(tempfile.mkdtemp(prefix="clip-"))
    try:
        output = workdir / "clip.mp4"
        copied = workdir / "copied.mp4"
        method = COPY
        with _source(
            url, source_size, workdir, read_plan(source_size or 0, source_bytes_per_s, start_s, end_s - start_s)
        ) as (
            source,
            cache,
        ):
            # Reads of the local cache are cheap: small ones let ffmpeg start on the first piece to arrive.
            size = rangecache.PIECE_BYTES if cache else request_size
            try:
                # An accurate cut reads a little past the end: the input `-to` stops at the first packet
                # past it in decode order, before B-frames shown earlier than the end.
                copy_end_s = end_s if mode == "fast" else end_s + ACCURATE_READ_PAST_END_S
                copy = build_command(source, copied, seek_s=start_s, end_s=copy_end_s, mode="fast", request_size=size)
                run = _run(copy, _left(deadline))
            except CutError as error:
                if mode == "fast" or error.transient:
                    raise
                # Streams an MP4 stream copy cannot hold (VP8, Vorbis): re-encode straight from the source.
                logger.info("stream copy failed, re-encoding from the source", error_code=error.code)
                reencode = build_command(source, output, seek_s=start_s, end_s=end_s, mode=mode, request_size=size)
                run = _run(reencode, _left(deadline))
                method = smart.REENCODE
        # What S3 sent, not what ffmpeg re-read from the cache (the read-ahead still under way uncounted).
        bytes_read = cache.fetched_bytes if cache else _bytes_read(run.stderr)
        if method == smart.REENCODE:
            facts = probe_output(output, _left(deadline))
            offset_s = start_s
        elif mode == "fast":
            # Which key frame the copy starts on (source timestamps); the clip's zero is put there.
            keyframe = keyframe_ts(copied, _left(deadline))
            remux_to_zero(copied, output, keyframe, _left(deadline))
            facts = probe_output(output, _left(deadline))
            offset_s = keyframe - source_start_s(run.stderr)
        else:
            # The copy keeps source timestamps; the request counts from the source's start time.
            origin = source_start_s(run.stderr)
            first_ts, method, facts = _accurate_from_copy(
                copied, output, workdir, start_s + origin, end_s + origin, deadline
            )
            offset_s = first_ts - origin
        result = _measure(facts, output, offset_s, bytes_read, method)
        logger.info(
            "clip cut",
            mode=mode,
            method=method,
            start_s=result.start_s,
            duration_s=result.duration_s,
            size_bytes=result.size_bytes,
            source_bytes_read=result.source_bytes_read,
        )
        yield result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def _source(
    url: str, size: int | None, workdir: Path, plan: rangecache.Plan
) -> Iterator[tuple[str, rangecache.RangeCache | None]]:
    """Where ffmpeg reads the source: through the local cache when the URL is remote and its size known."""
    if not size or not url.startswith(("https:", "http:")):
        yield url, None
        return
    with rangecache.cached(url, size, workdir, plan) as (local_url, cache):
        yield local_url, cache


def _accurate_from_copy(
    copied: Path, output: Path, workdir: Path, start_s: float, end_s: float, deadline: float
) -> tuple[float, str, dict[str, Any]]:
    """Frame-exact clip from the local copy (smart cut, or re-encode): the source time of its zero,
    the method, and ffprobe's facts of the clip written."""
    try:
        video, audio = _run_all([smart.facts_command(copied), smart.audio_command(copied)], deadline)
        facts = smart.parse_facts(video.stdout, audio.stdout)
        plan = smart.plan(facts, start_s, end_s)
    except ValueError as empty:
        raise CutError("empty_clip", "the cut produced no video", transient=False) from empty
    zero_s = float(plan.zero_pts * facts.time_base)
    if plan.method == smart.SMART:
        written = _smart_join(copied, output, workdir, facts, plan, deadline)
        if written is not None and smart.well_formed(written, facts, plan):
            return zero_s, smart.SMART, written
        plan = smart.whole(plan, "join_check")
    logger.info("smart cut not possible, re-encoding", reason=plan.reason, codec=facts.codec)
    _run(smart.reencode_command(copied, output, facts, plan), _left(deadline))
    return zero_s, plan.method, probe_output(output, _left(deadline))


def _smart_join(
    copied: Path, output: Path, workdir: Path, facts: smart.VideoFacts, plan: smart.Plan, deadline: float
) -> dict[str, Any] | None:
    """Re-encode the plan's edges, join them with the copied middle, and probe the result; None when
    ffmpeg refused: not an error, the caller re-encodes the clip whole instead."""
    try:
        edges = {i: workdir / f"segment-{i}.mp4" for i, segment in enumerate(plan.segments) if segment.kind == "encode"}
        # The edges do not depend on each other: encoded side by side they take the longer one's time.
        _run_all([smart.segment_command(copied, path, facts, plan, i) for i, path in edges.items()], deadline)
        files = [edges[i].name if i in edges else copied.name for i in range(len(plan.segments))]
        script = workdir / "join.ffconcat"
        script.write_text(smart.concat_script(plan, facts, files))
        _run(smart.join_command(script, copied, output, facts, plan), _left(deadline))
        return probe_output(output, _left(deadline))
    except CutError as error:
        if error.transient:
            raise
        return None


def _measure(
    facts: dict[str, Any], output: Path, offset_s: float, bytes_read: int | None, method: str = COPY
) -> CutResult:
    """What was written, in source time: `offset_s` is the source time of the clip's zero.

    The file starts at its zero (the container's start time is 0), so `start_s` is that zero and
    `duration_s` the container's duration: the span a player shows for the downloaded file.
    """
    streams = facts.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None or float(video.get("duration") or 0) <= 0:
        raise CutError("empty_clip", "the cut produced no video", transient=False)
    file_start = float(facts.get("format", {}).get("start_time") or 0)
    duration = float(facts.get("format", {}).get("duration") or video["duration"])
    start = offset_s + file_start
    return CutResult(
        path=output,
        start_s=round(start, 3),
        end_s=round(start + duration, 3),
        duration_s=round(duration, 3),
        video_duration_s=float(video["duration"]),
        audio_duration_s=float(audio["duration"]) if audio and audio.get("duration") else None,
        size_bytes=output.stat().st_size,
        source_bytes_read=bytes_read,
        width=int(video.get("width") or 0),
        height=int(video.get("height") or 0),
        fps=_rate(video.get("avg_frame_rate")),
        method=method,
    )


def _rate(value: str | None) -> float:
    num, _, den = (value or "0/0").partition("/")
    try:
        return round(float(num) / float(den or 1), 3)
    except (ValueError, ZeroDivisionError):
        return 0.0


def source_start_s(stderr: str) -> float:
    """The source's start time from ffmpeg's input dump (0 when it states none)."""
    found = _SOURCE_START.search(stderr)
    return float(found.group(1)) if found else 0.0


def _run(args: list[str], timeout_s: float) -> tools.ToolResult:
    try:
        return tools.run(args, timeout_s)
    except tools.ToolTimeout as timeout:
        raise CutError("timeout", str(timeout), transient=True) from timeout
    except tools.ToolFailed as failed:
        stderr_tail = redact(failed.stderr[-600:])
        logger.warning("media tool failed", returncode=failed.returncode, stderr_tail=stderr_tail)
        if failed.returncode < 0:  # killed by a signal (a crash, the OOM killer): says nothing about the media
            raise CutError("tool_crash", f"ffmpeg died of signal {-failed.returncode}", transient=True) from failed
        transient = bool(_TRANSIENT_STDERR.search(failed.stderr))
        code = "source_unreachable" if transient else "cut_failed"
        raise CutError(code, "ffmpeg could not cut the clip", transient=transient) from failed


def _run_all(commands: list[list[str]], deadline: float) -> list[tools.ToolResult]:
    """Run independent tools side by side (as `_run`; the first failure is raised once all ended)."""
    if len(commands) < 2:
        return [_run(args, _left(deadline)) for args in commands]
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        runs = [pool.submit(_run, args, _left(deadline)) for args in commands]
        return [run.result() for run in runs]


def _left(deadline: float) -> float:
    return deadline - time.monotonic()


def _bytes_read(stderr: str) -> int | None:
    """Bytes the input read, from the last AVIOContext statistics line (the input closes last).

    The +faststart pass re-reads the output and logs its own line earlier, so only the last counts.
    """
    found = _BYTES_READ.findall(stderr)
    return int(found[-1]) if found else None
