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

import pytest

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
    start_s: float = 0.0,
    open_gop: bool = False,
    vfr: bool = False,
    audio_lead_s: float = 0.0,
    gop: int = GOP,
    codec: str = "libx264",
    cabac: bool = False,
) -> ClipSource:
    """An MP4 (H.264, AAC sine when `audio`) with frame-indexed pictures; moov at the end on request.

    `noisy` adds film grain, so the bitrate is that of a real video (about 2 Mbit/s) and byte
    counts compare the clip with the source instead of with the container's fixed overhead;
    its frame indices are no longer readable. The other options make the layouts real files
    have: timestamps that start at `start_s` (cameras, streams cut from a broadcast), open GOPs
    (key frames that are not IDR, B-frames that refer across them), a variable frame rate (phone
    video: frame intervals of 30, 40 and 50 ms), and audio that starts `audio_lead_s` before the
    first picture (an edit list with an empty edit in front of the video).
    `codec` "mpeg4" makes a source smart cuts do not handle. `cabac` codes the H.264 with CABAC,
    as cameras and phones do (x264's ultrafast, used for speed here, writes CAVLC).
    """
    kind = f"{'av' if audio else 'v'}-{'moovend' if moov_at_end else 'faststart'}{'-noisy' if noisy else ''}"
    kind += f"{f'-at{start_s:g}' if start_s else ''}{'-opengop' if open_gop else ''}{'-vfr' if vfr else ''}"
    kind += f"{f'-lead{audio_lead_s:g}' if audio_lead_s else ''}{f'-gop{gop}' if gop != GOP else ''}"
    kind += ("" if codec == "libx264" else f"-{codec}") + ("-cabac" if cabac else "")
    path = directory / f"src-{seconds:g}s-{kind}.mp4"
    grain = ",noise=alls=60:allf=t" if noisy else ""
    # Intervals of 50, 50, 20 ms (a 25 fps average), on a millisecond time base.
    timing = ",settb=1/1000,setpts=(N*0.04+0.01*mod(N\\,3))/TB" if vfr else ""
    video = f"color=c=black:s={WIDTH}x{HEIGHT}:r={FPS}:d={seconds},format=gray,{_PAINT}{grain},format=yuv420p{timing}"
    args = [binary("ffmpeg"), "-nostdin", "-y", "-v", "error"]
    if audio_lead_s:
        args += ["-itsoffset", f"{audio_lead_s}"]
    args += ["-f", "lavfi", "-i", video]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    # Open GOPs need B-frames on every GOP boundary: forced, or x264 skips them on these pictures.
    # (and a GOP of 24 frames, so a key frame falls where a B-frame group would end)
    x264 = f"keyint={gop}:min-keyint={gop}:scenecut=0" + (":cabac=1" if cabac else "")
    if open_gop:
        x264 = f"keyint={gop - 1}:min-keyint={gop - 1}:scenecut=0:open-gop=1:bframes=2:b-adapt=0"
    if codec == "libx264":
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-bf", "2", "-x264-params", x264]
    else:
        args += ["-c:v", codec, "-q:v", "2", "-g", str(gop), "-bf", "2"]
    if vfr:
        args += ["-fps_mode", "passthrough", "-enc_time_base", "1/1000"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "64k"]
    if start_s:
        args += ["-output_ts_offset", f"{start_s}"]
    if not moov_at_end:
        args += ["-movflags", "+faststart"]
    subprocess.run([*args, str(path)], check=True, capture_output=True)
    return ClipSource(path=path, seconds=seconds, has_audio=audio, moov_at_end=moov_at_end, gop=gop)


def make_edit_list_source(directory: Path, *, cut_at_s: float = 1.5) -> ClipSource:
    """A 6 s source stream-copied from `cut_at_s`: its MP4 edit list hides the pre-roll from the key
    frame before (0.52 s of packets with negative times), as phones' and editors' trims do."""
    whole = make_source(directory, seconds=6)
    path = directory / f"src-editlist-{cut_at_s:g}.mp4"
    args = [binary("ffmpeg"), "-nostdin", "-y", "-v", "error", "-ss", f"{cut_at_s}", "-i", str(whole.path)]
    subprocess.run([*args, "-c", "copy", "-movflags", "+faststart", str(path)], check=True, capture_output=True)
    return ClipSource(path=path, seconds=6 - cut_at_s, has_audio=True, moov_at_end=False)


@dataclass(frozen=True)
class SourceFrame:
    index: int  # the index painted into the picture
    time_s: float  # display time from the file's start, as a player counts it
    key: bool


def source_frames(path: Path) -> list[SourceFrame]:
    """Every picture of a frame-indexed file in display order, with its time and key-frame flag."""
    out = subprocess.run(
        [
            binary("ffprobe"),
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=best_effort_timestamp_time,key_frame:format=start_time",
            "-of",
            "json",
            str(path),
        ],
        check=True,
        capture_output=True,
    ).stdout
    data = json.loads(out)
    start = float(data["format"]["start_time"])
    frames = data["frames"]
    indices = decoded_frame_indices(path)
    assert len(indices) == len(frames), (len(indices), len(frames))
    return [
        SourceFrame(index, round(float(f["best_effort_timestamp_time"]) - start, 6), f["key_frame"] == 1)
        for index, f in zip(indices, frames, strict=True)
    ]


def ffmpeg_reads(path: Path, *output: str, text: bool = False, check: bool = True) -> subprocess.CompletedProcess:
    """ffmpeg reading `path` into `output` (its options and target), messages at error level only."""
    args = [binary("ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), *output]
    return subprocess.run(args, capture_output=True, text=text, check=check)


def decoded_frame_indices(path: Path) -> list[int]:
    """The source frame index painted into every picture of `path`, in display order, none dropped or doubled."""
    raw = ffmpeg_reads(path, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-").stdout
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
    """ffprobe's start and duration of each stream type, and the format's."""
    out = subprocess.run(
        [
            binary("ffprobe"),
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,start_time,duration:format=start_time,duration",
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
    facts["format"] = {"start_s": float(data["format"]["start_time"]), "duration_s": float(data["format"]["duration"])}
    return facts


# One AAC frame at 44.1 kHz: a stream copy can only drop whole audio packets.
AUDIO_FRAME_S = 1024 / 44100


def assert_actual_is_the_files_truth(actual: dict[str, float], path: Path) -> None:
    """What a clip reports is what ffprobe reads from the delivered file: it starts at zero, every
    stream starts there together (audio within one packet), and its duration is the container's."""
    facts = stream_facts(path)
    assert facts["format"]["start_s"] == pytest.approx(0, abs=0.001), facts
    assert facts["video"]["start_s"] == pytest.approx(0, abs=0.001), facts
    if "audio" in facts:
        assert 0 <= facts["audio"]["start_s"] < AUDIO_FRAME_S, facts
    assert actual["duration_s"] == pytest.approx(facts["format"]["duration_s"], abs=0.001), (actual, facts)
    assert actual["end_s"] - actual["start_s"] == pytest.approx(actual["duration_s"], abs=0.002), actual
    for kind in ("video", "audio"):
        if kind in facts:
            ends_at = facts[kind]["start_s"] + facts[kind]["duration_s"]
            assert ends_at <= facts["format"]["duration_s"] + 0.001, facts


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


def decode_errors(path: Path) -> str:
    """What ffmpeg's decoders report while decoding every frame of every stream ("" when nothing)."""
    done = ffmpeg_reads(path, "-map", "0", "-f", "null", "-", text=True, check=False)
    return done.stderr.strip() + ("" if done.returncode == 0 else f" (exit {done.returncode})")


def video_packet_hashes(path: Path) -> list[str]:
    """MD5 of each video packet's bytes in decode order: equal hashes mean copied, not re-encoded."""
    out = ffmpeg_reads(path, "-map", "0:v:0", "-c", "copy", "-f", "framemd5", "-", text=True).stdout
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if line and not line.startswith("#")]
