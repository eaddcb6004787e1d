"""What a file really is: byte sniffing and ffprobe over a presigned GET, never a download.

ffprobe reads the object through HTTP range requests: the container index (at the start, or at
the end for a moov-at-end MP4, reached by a seek) and a bounded sample of packets. The locks
of `practika.media.tools` apply to every run, so a playlist or concat script disguised as a
video is never parsed as one and never makes ffprobe open another URL or a local file.
"""

import json
import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from practika.media import tools
from practika.observability import redact, tracer

# Packets read at the tail sample point (from TAIL_S before the end): enough for a key frame.
SAMPLE_PACKETS = 12
TAIL_S = 1.0
# Size of each HTTP range request ffprobe makes after the first (media.tools.input_options).
# Once a read runs past the first request (a moov atom over 64 KiB: any video over a few minutes)
# every later request is REQUEST_BYTES, including the few-KB reads for stream info and the tail
# sample: at 1 MiB that cost 4 MiB on a 30-minute file; 256 KiB keeps a probe within 2 MB + moov
# (make bench) for a few more requests while a large moov is read.
REQUEST_BYTES = 256 * 1024
# The scan of a video stream (`scan_video`) reads every packet of files up to the caller's
# `whole_bytes` (and of every file without a duration), decoding only key frames, in 1 MiB
# requests. Larger indexed files are sampled: the key frame at each of up to SCAN_POINTS times at
# least SCAN_SPACING_S apart, and the tail, in 64 KiB requests (0.1-0.3 MB on 720p besides the
# index, which this run reads again; docs/UPLOADS.md, `make bench`).
SCAN_POINTS = 8
SCAN_SPACING_S = 2.0
SCAN_WHOLE_REQUEST_BYTES = 1024 * 1024
SCAN_POINT_REQUEST_BYTES = 64 * 1024
# stderr phrases that mean the storage could not be read (retry later), not that the file is bad.
_TRANSPORT_ERRORS = re.compile(
    r"Server returned (5\d\d|403|404)|Connection refused|Connection reset|Connection timed out"
    r"|Failed to resolve|Network is unreachable",
    re.IGNORECASE,
)


class Sniffed(StrEnum):
    """What the first bytes of a file say it is, whatever its name and content type claim."""

    ISO_BMFF = "iso_bmff"  # MP4 / MOV family ("ftyp" box)
    QUICKTIME = "quicktime"  # old QuickTime without "ftyp"
    MATROSKA = "matroska"
    WEBM = "webm"
    OTHER_VIDEO = "other_video"  # a real video in a container we do not accept (AVI, FLV, TS...)
    IMAGE = "image"
    AUDIO = "audio"
    PLAYLIST = "playlist"  # HLS / DASH manifests
    SCRIPT = "script"  # ffconcat and other text that ffmpeg would follow
    TEXT = "text"
    EMPTY = "empty"
    UNKNOWN = "unknown"


# Kinds that are something else pretending to be a video (a security event, not an accident).
PRETENDERS = frozenset({Sniffed.IMAGE, Sniffed.AUDIO, Sniffed.PLAYLIST, Sniffed.SCRIPT, Sniffed.TEXT})

_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}


def sniff(head: bytes) -> Sniffed:
    """Classify a file by its first bytes (a few KB are plenty)."""
    if not head:
        return Sniffed.EMPTY
    box = head[4:8]
    if box == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return Sniffed.IMAGE
        if brand in _AUDIO_BRANDS:
            return Sniffed.AUDIO
        return Sniffed.ISO_BMFF
    if box in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return Sniffed.QUICKTIME
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed.WEBM if b"webm" in head[:64] else Sniffed.MATROSKA
    if _is_other_video(head):
        return Sniffed.OTHER_VIDEO
    if _is_image(head):
        return Sniffed.IMAGE
    if _is_audio(head):
        return Sniffed.AUDIO
    text = _as_text(head)
    if text is None:
        return Sniffed.UNKNOWN
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("#EXTM3U") or "<MPD" in stripped[:512] or stripped.startswith("[playlist]"):
        return Sniffed.PLAYLIST
    if stripped.startswith(("ffconcat", "file ", "#!")) or re.search(r"^\s*file\s+'", stripped, re.MULTILINE):
        return Sniffed.SCRIPT
    return Sniffed.TEXT


def _is_other_video(head: bytes) -> bool:
    return (
        (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
        or head.startswith(b"FLV\x01")
        or head.startswith(b"\x00\x00\x01\xba")  # MPEG program stream
        or head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")  # ASF / WMV
        or (len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47)  # MPEG-TS
    )


def _is_image(head: bytes) -> bool:
    return (
        head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00"))
        or head.startswith(b"MM\x00*")
        or (head.startswith(b"RIFF") and head[8:12] == b"WEBP")
    )


def _is_audio(head: bytes) -> bool:
    return (
        head.startswith((b"ID3", b"fLaC", b"OggS", b"#!AMR", b"MThd"))
        or (head.startswith(b"RIFF") and head[8:12] == b"WAVE")
        or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)  # MPEG audio / ADTS frame sync
    )


def _as_text(head: bytes) -> str | None:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # The sample may end inside a multi-byte character.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return text if "\x00" not in text and printable >= 0.95 * len(text) else None


class Stream(BaseModel):
    model_config = ConfigDict(extra="ignore")

    index: int
    codec_type: str | None = None
    codec_name: str | None = None
    width: int | None = None
    height: int | None = None
    avg_frame_rate: str | None = None
    r_frame_rate: str | None = None
    duration: float | None = None
    nb_frames: int | None = None  # what an MP4 index states (Matroska states none)
    disposition: dict[str, int] = Field(default_factory=dict)
    side_data_list: list[dict[str, Any]] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)

    @property
    def is_picture(self) -> bool:
        """A cover image attached to the file, not a video track."""
        return self.disposition.get("attached_pic", 0) == 1

    @property
    def rotation(self) -> int:
        for side_data in self.side_data_list:
            if "rotation" in side_data:
                return int(side_data["rotation"])
        return int(self.tags.get("rotate", 0) or 0)


class Format(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format_name: str
    start_time: float | None = None
    duration: float | None = None
    size: int | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class ProbeReport(BaseModel):
    """What ffprobe found in the container's index."""

    format: Format
    streams: list[Stream]
    probe_ms: float


class ProbeFailed(Exception):
    """ffprobe could not make sense of the file (not a container we parse, or damaged)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StorageUnreachable(Exception):
    """ffprobe could not read the object (network, expired URL): a retry may succeed."""


class ProbeCrashed(Exception):
    """ffprobe died of a signal (a crash, the out-of-memory killer): no verdict on the file yet."""


def _input_args(url: str, request_bytes: int = REQUEST_BYTES) -> list[str]:
    args: list[str] = []
    for name, value in tools.input_options(url, request_bytes=request_bytes).items():
        args += [f"-{name}", value]
    return [*args, "-i", url]


def _last_error_line(stderr: str) -> str:
    """ffprobe's last complaint, redacted: it names the presigned URL it read, and the exception
    carrying it is recorded in X-Ray by `capture_method` as well as in logs."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return redact(lines[-1])[:300] if lines else "no output"


def _run(args: list[str], timeout_s: float) -> tools.ToolResult:
    try:
        return tools.run(args, timeout_s)
    except tools.ToolFailed as failed:
        if failed.returncode < 0:
            raise ProbeCrashed(f"ffprobe killed by signal {-failed.returncode}") from failed
        if _TRANSPORT_ERRORS.search(failed.stderr):
            raise StorageUnreachable(_last_error_line(failed.stderr)) from failed
        raise ProbeFailed(_last_error_line(failed.stderr)) from failed


@tracer.capture_method
def probe(url: str, timeout_s: float) -> ProbeReport:
    """Container and stream facts of the media at `url`; raises ProbeFailed or tools.ToolTimeout."""
    started = time.perf_counter()
    result = _run(
        [
            tools.binary("ffprobe"), "-hide_banner", "-v", "error",
            "-print_format", "json", "-show_format", "-show_streams",
            *_input_args(url),
        ],
        timeout_s,
    )  # fmt: skip
    document = json.loads(result.stdout or b"{}")
    if "format" not in document:
        raise ProbeFailed("ffprobe found no container")
    return ProbeReport(
        format=document["format"],
        streams=document.get("streams", []),
        probe_ms=round((time.perf_counter() - started) * 1000, 1),
    )


@dataclass(frozen=True)
class VideoScan:
    """What the packets of a video stream say, beyond what its index (or header) states."""

    sizes: frozenset[tuple[int, int]]  # picture sizes of the key frames decoded
    end_s: float | None  # where the last packet read ends, in the file's time (0 = the file's start)
    packets: int
    key_packets: int  # packets flagged as key frames
    keyframes: int  # key frames decoded
    points: int  # places sampled (each must decode a key frame); 0 when the whole stream was read
    scan_ms: float

    @property
    def whole(self) -> bool:
        return self.points == 0


def _scan_intervals(duration_s: float, start_s: float) -> list[str]:
    """One packet (after the seek: a key frame) at evenly spread times, SCAN_POINTS at most, then
    SAMPLE_PACKETS from TAIL_S before the end, what a truncated upload lacks while its index promises it."""
    count = max(1, min(SCAN_POINTS, int(duration_s / SCAN_SPACING_S)))
    points = [f"{start_s + duration_s * n / count:.3f}%+#1" for n in range(count)]
    return [*points, f"{start_s + max(0.0, duration_s - TAIL_S):.3f}%+#{SAMPLE_PACKETS}"]


@tracer.capture_method
def scan_video(
    url: str,
    stream_index: int,
    timeout_s: float,
    *,
    size_bytes: int,
    whole_bytes: int,
    duration_s: float | None,
    start_s: float,
) -> VideoScan:
    """Picture sizes of the key frames and the end of the last packet of one video stream.

    The index states one picture size and one duration; the frames can say otherwise (an H.264
    stream switching to 4096x2304 part-way, a last frame stamped 10 hours on), and a live
    recording (WebM from a browser's MediaRecorder, fragmented MP4) states no duration at all.
    Files up to `whole_bytes`, and every file without a duration, are read whole; larger
    indexed files are sampled, their tail included. Only key frames are decoded (`-skip_frame nokey`).
    """
    started = time.perf_counter()
    whole = size_bytes <= whole_bytes or not duration_s
    intervals = [] if whole else _scan_intervals(float(duration_s or 0), start_s)
    sample = ["-read_intervals", ",".join(intervals)] if intervals else []
    request_bytes = SCAN_WHOLE_REQUEST_BYTES if whole else SCAN_POINT_REQUEST_BYTES
    result = _run(
        [
            tools.binary("ffprobe"), "-hide_banner", "-v", "error",
            "-select_streams", str(stream_index), "-skip_frame", "nokey", *sample,
            "-show_entries", "packet=pts_time,duration_time,flags:frame=width,height", "-of", "csv",
            *_input_args(url, request_bytes),
        ],
        timeout_s,
    )  # fmt: skip
    sizes: set[tuple[int, int]] = set()
    end: float | None = None
    packets = key_packets = keyframes = 0
    for line in result.stdout.decode("ascii", "replace").splitlines():
        kind, _, rest = line.partition(",")
        fields = rest.split(",")
        if kind == "packet" and len(fields) >= 2:
            packets += 1
            key_packets += len(fields) >= 3 and fields[2].startswith("K")
            pts, duration = _number(fields[0]), _number(fields[1]) or 0.0
            if pts is not None and (end is None or pts + duration > end):
                end = pts + duration
        elif kind == "frame" and len(fields) >= 2:
            keyframes += 1
            width, height = _number(fields[0]), _number(fields[1])
            if width and height:
                sizes.add((int(width), int(height)))
    return VideoScan(
        sizes=frozenset(sizes),
        end_s=None if end is None else round(end - start_s, 3),
        packets=packets,
        key_packets=key_packets,
        keyframes=keyframes,
        points=len(intervals),
        scan_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
