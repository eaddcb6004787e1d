"""A media corpus generated at test time from ffmpeg's lavfi sources, with the outcome each file must get.

Used by the integration tests and the e2e suite (and `make demo` for its sample video). Every
file is small (a few hundred KB at most) so the whole corpus builds in a few seconds.

Hostile cases (an HLS playlist and an ffconcat script disguised as .mp4) point at a canary
URL: the test runs an HTTP server there and asserts it never received a request.

Some cases need lowered limits to trigger (`TEST_LIMITS`): an over-long video is 6 s, which the
stack rejects only when MAX_DURATION_S is 5.
"""

from __future__ import annotations

import http.server
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The validate worker's limits under which every case gets its expected outcome.
TEST_LIMITS = {
    "MAX_DURATION_S": "5",
    "MAX_WIDTH": "1280",
    "MAX_HEIGHT": "720",
    "MAX_FPS": "60",
}
# The same limits as template parameters, for local stacks (e2e, load, faults), with multipart
# lowered to its 5 MiB minimum so small files cross it.
STACK_PARAMS = {
    "MultipartThresholdBytes": str(5 * 1024 * 1024),
    "MultipartPartBytes": str(5 * 1024 * 1024),
    "MaxUploadBytes": str(64 * 1024 * 1024),
    "MaxDurationSeconds": TEST_LIMITS["MAX_DURATION_S"],
    "MaxWidth": TEST_LIMITS["MAX_WIDTH"],
    "MaxHeight": TEST_LIMITS["MAX_HEIGHT"],
    "MaxFps": TEST_LIMITS["MAX_FPS"],
}


@dataclass
class Canary:
    """An HTTP server the playlist and concat cases point at; any request it gets means the locks failed."""

    url: str
    hits: list[str]


@contextmanager
def canary_server() -> Iterator[Canary]:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        do_HEAD = do_POST = do_GET

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Canary(url=f"http://127.0.0.1:{server.server_port}", hits=hits)
    finally:
        server.shutdown()


@dataclass(frozen=True)
class MediaCase:
    """One corpus file and what the pipeline must decide about it."""

    name: str
    path: Path
    content_type: str
    status: str  # "ready" or "rejected"
    code: str | None = None  # rejection code when rejected
    facts: dict[str, Any] = field(default_factory=dict)  # media facts that must match when ready
    security_event: str | None = None  # the security_event a rejection must log, if any

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def ffmpeg_binary() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        raise FileNotFoundError("ffmpeg not on PATH (run `make ffmpeg`)")
    return found


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_video(
    path: Path,
    *,
    duration_s: float = 2.0,
    size: str = "320x240",
    fps: int = 25,
    vcodec: str | None = "libx264",
    acodec: str | None = "aac",
    faststart: bool = True,
    extra: tuple[str, ...] = (),
) -> Path:
    """A test-pattern video (and a 440 Hz tone) encoded with the given codecs into `path`."""
    args: list[str] = []
    if vcodec:
        args += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={duration_s}"]
    if acodec:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration_s}"]
    if vcodec:
        args += ["-c:v", vcodec, "-pix_fmt", "yuv420p"]
        if vcodec == "libx264":
            args += ["-preset", "ultrafast", "-g", str(fps)]
        elif vcodec == "libx265":
            args += ["-preset", "ultrafast", "-tag:v", "hvc1", "-x265-params", "log-level=error"]
        elif vcodec == "libvpx-vp9":
            args += ["-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"]
    else:
        args += ["-vn"]
    if acodec:
        args += ["-c:a", acodec, "-b:a", "64k"]
    else:
        args += ["-an"]
    if faststart and path.suffix in (".mp4", ".mov", ".m4a"):
        args += ["-movflags", "+faststart"]
    args += list(extra)
    _ffmpeg(*args, str(path))
    return path


def make_noise_video(path: Path, *, size_bytes: int, duration_s: float = 8.0, faststart: bool = True) -> Path:
    """An H.264 MP4 of random noise at a bitrate chosen to land a little above `size_bytes`.

    Noise does not compress, so this is how tests get a multi-megabyte file (multipart uploads)
    in well under a second of encoding.
    """
    bitrate = int(size_bytes * 8 / duration_s * 1.15)
    _ffmpeg(
        "-f", "lavfi", "-i", f"nullsrc=size=320x240:rate=25:duration={duration_s},geq=random(1)*255:128:128",
        "-c:v", "libx264", "-preset", "ultrafast", "-b:v", str(bitrate), "-minrate", str(bitrate),
        "-maxrate", str(bitrate), "-bufsize", str(bitrate), "-x264-params", "nal-hrd=cbr", "-g", "25",
        *(["-movflags", "+faststart"] if faststart else []), str(path),
    )  # fmt: skip
    return path


def make_image(path: Path) -> Path:
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", "-f", "image2", "-c:v", "mjpeg",
            "-pix_fmt", "yuvj420p", str(path))  # fmt: skip
    return path


def make_resolution_switch(path: Path, *, before: str = "320x240", after: str = "4096x2304") -> Path:
    """An H.264 MP4 whose stream switches picture size part-way (new SPS at the second key frame).

    Two elementary streams joined: the index (the sample entry) states the first size only.
    """
    parts = []
    for n, (size, source) in enumerate(((before, "testsrc2="), (after, "color=c=blue:"))):
        part = path.with_name(f"{path.stem}-part{n}.h264")
        _ffmpeg("-f", "lavfi", "-i", f"{source}size={size}:rate=10:duration=1", "-c:v", "libx264",
                "-preset", "ultrafast", "-g", "10", "-pix_fmt", "yuv420p", "-f", "h264", str(part))  # fmt: skip
        parts.append(part.read_bytes())
        part.unlink()
    joined = path.with_suffix(".h264")
    joined.write_bytes(b"".join(parts))
    _ffmpeg("-r", "10", "-i", str(joined), "-c", "copy", "-movflags", "+faststart", str(path))
    joined.unlink()
    return path


def make_live_webm(path: Path, *, duration_s: float = 3.0) -> Path:
    """A WebM written as a live recorder writes it: no Duration element, no Cues (ffmpeg's stand-in
    for a browser's MediaRecorder output; tests/browserrecorder.py makes the real thing)."""
    return make_video(path, duration_s=duration_s, vcodec="libvpx-vp9", acodec="libopus",
                      extra=("-live", "1", "-f", "webm"))  # fmt: skip


def make_fragmented_mp4(path: Path, *, duration_s: float = 2.0) -> Path:
    """An MP4 of fragments (empty moov, a moof per key frame), as live recorders and CMAF write it."""
    return make_video(path, duration_s=duration_s, faststart=False,
                      extra=("-movflags", "frag_keyframe+empty_moov+default_base_moof"))  # fmt: skip


def make_late_last_frame(path: Path, *, late_s: float = 36000.0, stated_s: float = 2.0) -> Path:
    """A Matroska file whose last frame is stamped `late_s` seconds while its Duration says `stated_s`."""
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=10:duration={stated_s}",
            "-vf", f"settb=1/1000,setpts='if(eq(N,{int(stated_s * 10) - 1}),{late_s}/TB,PTS)'",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-fps_mode", "passthrough", str(path))  # fmt: skip
    data = bytearray(path.read_bytes())
    at = data.find(b"\x44\x89\x88")  # Duration: an 8-byte float in TimecodeScale units (ms)
    data[at + 3 : at + 11] = struct.pack(">d", stated_s * 1000)
    path.write_bytes(bytes(data))
    return path


def make_truncated(source: Path, path: Path, keep: float = 0.5) -> Path:
    """The first `keep` of a faststart MP4: the index is intact and promises frames that are not there."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_hls_playlist(path: Path, canary_url: str) -> Path:
    path.write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:2.0,\n{canary_url}/hls/segment0.ts\n#EXTINF:2.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    )
    return path


def make_ffconcat(path: Path, canary_url: str) -> Path:
    path.write_text(f"ffconcat version 1.0\nfile '{canary_url}/concat/part0.mp4'\nfile '/etc/passwd'\n")
    return path


def build_corpus(directory: Path, canary_url: str) -> dict[str, MediaCase]:
    """Every corpus file, generated into `directory`, by case name."""
    directory.mkdir(parents=True, exist_ok=True)
    d = directory
    mp4 = "video/mp4"
    h264_aac = make_video(d / "h264_aac.mp4")
    cases = [
        MediaCase(
            "h264_aac_mp4", h264_aac, mp4, "ready",
            facts={"container": "mp4", "video_codec": "h264", "audio_codec": "aac",
                   "width": 320, "height": 240, "fps": 25.0},
        ),
        MediaCase(
            "hevc_mov", make_video(d / "hevc.mov", vcodec="libx265", duration_s=1.0), "video/quicktime", "ready",
            facts={"container": "mov", "video_codec": "hevc", "audio_codec": "aac", "width": 320, "height": 240},
        ),
        MediaCase(
            "vp9_opus_webm", make_video(d / "vp9_opus.webm", vcodec="libvpx-vp9", acodec="libopus"),
            "video/webm", "ready",
            facts={"container": "webm", "video_codec": "vp9", "audio_codec": "opus", "width": 320, "height": 240},
        ),
        MediaCase(
            "h264_mkv", make_video(d / "h264.mkv", acodec="libopus"), "video/x-matroska", "ready",
            facts={"container": "mkv", "video_codec": "h264", "audio_codec": "opus"},
        ),
        MediaCase(
            "moov_at_end_mp4", make_video(d / "moov_at_end.mp4", faststart=False), mp4, "ready",
            facts={"container": "mp4", "video_codec": "h264", "audio_codec": "aac"},
        ),
        MediaCase(
            "silent_mp4", make_video(d / "silent.mp4", acodec=None), mp4, "ready",
            facts={"container": "mp4", "video_codec": "h264", "audio_codec": None},
        ),
        MediaCase(
            "audio_only", make_video(d / "audio_only.mp4", vcodec=None), mp4, "rejected",
            code="no_video_stream", security_event="disguised_media",
        ),
        MediaCase(
            "image", make_image(d / "photo.mp4"), mp4, "rejected",
            code="not_a_video", security_event="disguised_media",
        ),
        MediaCase(
            "text", _write(d / "notes.mp4", "these are my notes, not a video\n" * 20), mp4, "rejected",
            code="not_a_video", security_event="disguised_media",
        ),
        MediaCase("zero_bytes", _write(d / "empty.mp4", ""), mp4, "rejected", code="not_a_video"),
        MediaCase(
            "truncated", make_truncated(h264_aac, d / "truncated.mp4"), mp4, "rejected", code="corrupt",
        ),
        MediaCase(
            "hls_playlist", make_hls_playlist(d / "playlist.mp4", canary_url), mp4, "rejected",
            code="not_a_video", security_event="disguised_media",
        ),
        MediaCase(
            "ffconcat", make_ffconcat(d / "concat.mp4", canary_url), mp4, "rejected",
            code="not_a_video", security_event="disguised_media",
        ),
        MediaCase(
            "too_long", make_video(d / "too_long.mp4", duration_s=6.0, size="160x120", fps=10, acodec=None),
            mp4, "rejected", code="too_long",
        ),
        MediaCase(
            "resolution_too_high",
            make_video(d / "too_wide.mp4", duration_s=0.5, size="1920x1080", fps=10, acodec=None),
            mp4, "rejected", code="resolution_too_high",
        ),
        # Facts the index does not state: only the stream's packets and frames say them.
        MediaCase(
            "resolution_switch", make_resolution_switch(d / "switch.mp4"), mp4, "rejected",
            code="resolution_too_high",
        ),
        MediaCase(
            "late_last_frame", make_late_last_frame(d / "late_last_frame.mkv"), "video/x-matroska", "rejected",
            code="too_long",
        ),
        MediaCase(
            "live_webm", make_live_webm(d / "live.webm"), "video/webm", "ready",
            facts={"container": "webm", "video_codec": "vp9", "audio_codec": "opus", "duration_s": 3.0},
        ),
        MediaCase(
            "fragmented_mp4", make_fragmented_mp4(d / "fragmented.mp4"), mp4, "ready",
            facts={"container": "mp4", "video_codec": "h264", "audio_codec": "aac"},
        ),
    ]  # fmt: skip
    return {case.name: case for case in cases}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
