"""Sources for clip tests whose frames say who they are, and a decoder that reads them back.

Each frame paints its own index as a row of black/white blocks (bit k = block k, 16 px wide),
with ffmpeg's `geq` filter, so a clip's decoded pictures tell exactly which source frames it
holds: accuracy is checked on pixels, not trusted from container metadata. The static ffmpeg
has no drawtext, and blocks survive H.264 compression far better than digits would.

Key frames come every GOP frames exactly (scene-cut detection off), with B-frames on, so
stream copies hit real reordering. Sources are tiny (192x32) and build in well under a second.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from practika.media.tools import binary

FPS = 25
GOP = 25  # a key frame every second
WIDTH, HEIGHT = 192, 32
BLOCK = 16
BITS = WIDTH // BLOCK  # up to 4096 frames

_PAINT = f"geq=lum='255*mod(floor(N/pow(2\\,floor(X/{BLOCK})))\\,2)'"


@dataclass(frozen=True)
class ClipSource:
    path: Path
    seconds: float
    has_audio: bool
    moov_at_end: bool
    fps: int = FPS
    gop: int = GOP

    @property
    def frames(self) -> int:
        return round(self.seconds * self.fps)

    def keyframe_at_or_before(self, time_s: float) -> float:
        frame = int(time_s * self.fps + 1e-6)
        return (frame // self.gop) * self.gop / self.fps


def make_source(
    directory: Path,
    *,
    seconds: float = 8.0,
    audio: bool = True,
    moov_at_end: bool = False,
    noisy: bool = False,
) -> ClipSource:
    """An MP4 (H.264, AAC sine when `audio`) with frame-indexed pictures; moov at the end on request.

    `noisy` adds film grain, so the bitrate is that of a real video (about 2 Mbit/s) and byte
    counts compare the clip with the source instead of with the container's fixed overhead;
    its frame indices are no longer readable.
    """
    kind = f"{'av' if audio else 'v'}-{'moovend' if moov_at_end else 'faststart'}{'-noisy' if noisy else ''}"
    path = directory / f"src-{seconds:g}s-{kind}.mp4"
    grain = ",noise=alls=60:allf=t" if noisy else ""
    video = f"color=c=black:s={WIDTH}x{HEIGHT}:r={FPS}:d={seconds},format=gray,{_PAINT}{grain},format=yuv420p"
    args = [binary("ffmpeg"), "-nostdin", "-y", "-v", "error", "-f", "lavfi", "-i", video]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    args += [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "18",
        "-bf",
        "2",
        "-x264-params",
        f"keyint={GOP}:min-keyint={GOP}:scenecut=0",
    ]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k"]
    if not moov_at_end:
        args += ["-movflags", "+faststart"]
    subprocess.run([*args, str(path)], check=True, capture_output=True)
    return ClipSource(path=path, seconds=seconds, has_audio=audio, moov_at_end=moov_at_end)


def decoded_frame_indices(path: Path) -> list[int]:
    """The source frame index painted into every picture of `path`, in display order, none dropped or doubled."""
    raw = subprocess.run(
        [
            binary("ffmpeg"),
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(path),
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    size = WIDTH * HEIGHT
    indices = []
    for offset in range(0, len(raw) - size + 1, size):
        frame = raw[offset : offset + size]
        value = 0
        for bit in range(BITS):
            # The middle of each block, away from edges where the encoder blurs.
            x0, y0 = bit * BLOCK + 4, HEIGHT // 2 - 6
            total = sum(frame[y * WIDTH + x] for y in range(y0, y0 + 12) for x in range(x0, x0 + 8))
            if total / 96 > 128:
                value |= 1 << bit
        indices.append(value)
    return indices


def stream_facts(path: Path) -> dict[str, dict[str, float]]:
    """ffprobe's start and duration of each stream type, and the format's duration."""
    out = subprocess.run(
        [
            binary("ffprobe"),
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,start_time,duration:format=duration",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
    ).stdout
    data = json.loads(out)
    facts = {
        s["codec_type"]: {"start_s": float(s.get("start_time", 0)), "duration_s": float(s["duration"])}
        for s in data["streams"]
    }
    facts["format"] = {"duration_s": float(data["format"]["duration"])}
    return facts


def first_packet_is_keyframe(path: Path) -> bool:
    out = subprocess.run(
        [
            binary("ffprobe"),
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-read_intervals",
            "%+#1",
            "-show_entries",
            "packet=flags",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
    ).stdout
    packets = json.loads(out).get("packets", [])
    return bool(packets) and "K" in packets[0]["flags"]
