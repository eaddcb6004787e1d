"""Cutting a clip out of a source that stays in S3, with ffmpeg driven through ffmpeg-python.

The source is read over a presigned GET with `-ss` before `-i`: ffmpeg seeks in the index
(the moov atom, wherever it sits) and asks only for the byte ranges of the clip, so the cost
grows with the clip, not with the source. The input carries the same demuxer and protocol
locks as validation.

- `fast`: stream copy, in one read of the source. A copy can only start on a key frame: ffmpeg
  seeks to the key frame at or before the requested start and, with `-copyts`, writes the
  packets from there with their source timestamps, so ffprobe of that file says which key frame
  it is. A local remux (a file of the clip's size, no S3 read) then moves the clip to zero, so it
  really starts on that frame (no hidden pre-roll behind an edit list, no empty lead-in) and
  says so. Asking ffprobe for the key frame first read the source's index a second time.
- `accurate`: re-encode (H.264/AAC). ffmpeg decodes from the preceding key frame and drops
  every frame before the requested start, so the first and last frames are the asked-for ones.
  Timestamps keep the source's time base and are passed through, so no frame is dropped or
  duplicated by rounding to a frame grid.

Start, end and duration are then measured by ffprobe on what was written.
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

from practika.media import tools
from practika.observability import logger, tracer

ACCURATE_CRF = 20
# Lambda bills by the millisecond; slower x264 presets buy little at clip lengths.
ACCURATE_PRESET = "veryfast"
AUDIO_BITRATE = "128k"

# ffmpeg/ffprobe failures that come from the network or S3, not from the media: worth a retry.
_TRANSIENT_STDERR = re.compile(
    r"Server returned 5\d\d|Connection (refused|reset|timed out)|timed out|Input/output error"
    r"|Server returned 403|Network is unreachable|Temporary failure in name resolution",
    re.IGNORECASE,
)
# Range requests after the first (media.tools.input_options): 1 MiB. A clip is a few MB read in one
# run, where every request costs a round trip (about 12 ms on the local stack, more on S3): 256 KiB
# requests made a 30-minute fast clip 21 GETs and 0.28 s, 1 MiB makes it 8 GETs and 0.20 s, for
# 1.3 MB more read past the clip's ends (bench/).
# Validation reads the index in small pieces and keeps its own, smaller sizes (media.probe).
REQUEST_BYTES = 1024 * 1024
_BYTES_READ = re.compile(r"Statistics: (\d+) bytes read")
# A presigned URL's query is a bearer credential: never let it reach the logs.
_URL_QUERY = re.compile(r"\?[^\s'\"]*")
# Runs the key-frame ffprobe beside the remux: both are child processes, so a thread only waits.
_probe_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe")


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


def _input_options(url: str) -> dict[str, str]:
    return tools.input_options(url, request_bytes=REQUEST_BYTES)


def build_command(url: str, output: Path, *, seek_s: float, end_s: float, mode: str) -> list[str]:
    """The ffmpeg command line for one cut (input seeking, locked input, MP4 output).

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
    input_options: dict[str, str | None] = dict(_input_options(url))
    if mode == "fast":
        # No +faststart here: remux_to_zero writes the file that is kept, and a second pass over
        # this one would only be thrown away.
        codec: dict[str, Any] = {"c": "copy", "to": f"{end_s:.6f}"}
        input_options["copyts"] = None
    else:
        codec = {
            "movflags": "+faststart",
            "c:v": "libx264",
            "crf": ACCURATE_CRF,
            "preset": ACCURATE_PRESET,
            "pix_fmt": "yuv420p",
            "enc_time_base:v": "demux",
            "fps_mode": "passthrough",
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


def remux_to_zero(source: Path, output: Path, timeout_s: float) -> None:
    """Move a `-copyts` cut to start at zero (a local stream copy; only the file protocol is allowed)."""
    args = [
        tools.binary("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-protocol_whitelist", "file", "-i", str(source),
        "-map", "0", "-c", "copy", "-avoid_negative_ts", "make_zero", "-movflags", "+faststart", "-f", "mp4",
        "-y", str(output),
    ]
    _run(args, timeout_s)


def _video_start(facts: dict[str, Any]) -> float:
    video = next((s for s in facts.get("streams", []) if s.get("codec_type") == "video"), None)
    if video is None or video.get("start_time") is None:
        raise CutError("empty_clip", "the cut produced no video", transient=False)
    return float(video["start_time"])


def probe_output(path: Path, timeout_s: float) -> dict[str, Any]:
    """ffprobe of the clip we wrote (a local file we made, so only the file protocol is allowed)."""
    args = [
        tools.binary("ffprobe"),
        "-hide_banner",
        "-loglevel",
        "error",
        "-protocol_whitelist",
        "file",
        "-show_entries",
        "stream=codec_type,start_time,duration:format=duration",
        "-of",
        "json",
        str(path),
    ]
    facts: dict[str, Any] = json.loads(_run(args, timeout_s).stdout or b"{}")
    return facts


@tracer.capture_method
@contextmanager
def cut_clip(url: str, *, start_s: float, end_s: float, mode: str, timeout_s: float) -> Iterator[CutResult]:
    """Cut [start_s, end_s) of the source at `url` into a temporary MP4, removed when the block ends.

    All tools together get `timeout_s`; one still running at the deadline is killed.
    """
    deadline = time.monotonic() + timeout_s
    workdir = Path(tempfile.mkdtemp(prefix="clip-"))
    try:
        output = workdir / "clip.mp4"
        if mode == "fast":
            copied = workdir / "copied.mp4"
            run = _run(build_command(url, copied, seek_s=start_s, end_s=end_s, mode=mode), _left(deadline))
            # Which key frame the copy starts on (source time), probed while the remux runs.
            copied_facts = _probe_pool.submit(probe_output, copied, _left(deadline))
            remux_to_zero(copied, output, _left(deadline))
            keyframe_s = _video_start(copied_facts.result())
            facts = probe_output(output, _left(deadline))
            # The remux shifts every stream by the same amount (audio pre-roll may start first).
            offset_s = keyframe_s - _video_start(facts)
        else:
            run = _run(build_command(url, output, seek_s=start_s, end_s=end_s, mode=mode), _left(deadline))
            facts = probe_output(output, _left(deadline))
            offset_s = start_s
        result = _measure(facts, output, offset_s, _bytes_read(run.stderr))
        logger.info(
            "clip cut",
            mode=mode,
            start_s=result.start_s,
            duration_s=result.duration_s,
            size_bytes=result.size_bytes,
            source_bytes_read=result.source_bytes_read,
        )
        yield result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _measure(facts: dict[str, Any], output: Path, offset_s: float, bytes_read: int | None) -> CutResult:
    """What was written, in source time: `offset_s` is the source time of the clip's zero."""
    streams = facts.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None or float(video.get("duration") or 0) <= 0:
        raise CutError("empty_clip", "the cut produced no video", transient=False)
    video_start = float(video.get("start_time") or 0)
    video_duration = float(video["duration"])
    start = offset_s + video_start
    return CutResult(
        path=output,
        start_s=round(start, 3),
        end_s=round(start + video_duration, 3),
        duration_s=round(video_duration, 3),
        video_duration_s=video_duration,
        audio_duration_s=float(audio["duration"]) if audio and audio.get("duration") else None,
        size_bytes=output.stat().st_size,
        source_bytes_read=bytes_read,
    )


def _run(args: list[str], timeout_s: float) -> tools.ToolResult:
    try:
        return tools.run(args, timeout_s)
    except tools.ToolTimeout as timeout:
        raise CutError("timeout", str(timeout), transient=True) from timeout
    except tools.ToolFailed as failed:
        transient = bool(_TRANSIENT_STDERR.search(failed.stderr))
        stderr_tail = _URL_QUERY.sub("?…", failed.stderr[-600:])
        logger.warning("media tool failed", returncode=failed.returncode, stderr_tail=stderr_tail)
        code = "source_unreachable" if transient else "cut_failed"
        raise CutError(code, "ffmpeg could not cut the clip", transient=transient) from failed


def _left(deadline: float) -> float:
    return deadline - time.monotonic()


def _bytes_read(stderr: str) -> int | None:
    """Bytes the input read, from the last AVIOContext statistics line (the input closes last).

    The +faststart pass re-reads the output and logs its own line earlier, so only the last counts.
    """
    found = _BYTES_READ.findall(stderr)
    return int(found[-1]) if found else None



