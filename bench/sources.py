"""720p test sources of 1, 10 and 30 minutes, made once with the pinned ffmpeg and cached.

One minute is encoded (testsrc2 and a tone, H.264 at a constant-ish 2.5 Mb/s, the low end of real
720p: phones record it at 4-8 Mb/s; a key frame every 2 s, AAC); the longer ones are that minute
looped with stream copy, so making them costs seconds. (A first version used 600 kb/s, which made
a 10 s clip smaller than a 30-minute source's index, so the bench measured the index, not clips.)
The moov atom is at the end, as cameras and phones write it: the harder case for range reads.
"""

import shutil
import subprocess
from pathlib import Path

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "bench"
MINUTES = (1, 10, 30)
VIDEO_BITRATE = "2500k"
FPS = 25
GOP = 50  # 2 s at 25 fps
VERSION = "v2"  # change to rebuild the cache when the recipe changes


def ffmpeg() -> str:
    found = shutil.which("ffmpeg")
    if found is None:
        raise FileNotFoundError("ffmpeg not on PATH (run `make ffmpeg`)")
    return found


def _run(*args: str) -> None:
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def source(minutes: int) -> Path:
    """The cached source of `minutes` minutes, made on first use."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"src-720p-{minutes}min-{VERSION}.mp4"
    if path.exists():
        return path
    partial = path.with_suffix(".part.mp4")
    if minutes == 1:
        _run(
            "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={FPS}:duration=60",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=60",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(GOP),
            "-b:v", VIDEO_BITRATE, "-maxrate", VIDEO_BITRATE, "-bufsize", "5000k",
            "-c:a", "aac", "-b:a", "64k", str(partial),
        )  # fmt: skip
    else:
        _run("-stream_loop", str(minutes - 1), "-i", str(source(1)), "-c", "copy", "-map", "0", str(partial))
    partial.replace(path)
    return path


def moov_size(path: Path) -> int:
    """Size of the top-level moov box (the index ffprobe and ffmpeg must read)."""
    with path.open("rb") as media:
        offset, end = 0, path.stat().st_size
        while offset < end:
            media.seek(offset)
            header = media.read(16)
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if size == 1:
                size = int.from_bytes(header[8:16], "big")
            elif size == 0:
                size = end - offset
            if kind == b"moov":
                return size
            offset += size
    return 0


if __name__ == "__main__":
    for m in MINUTES:
        p = source(m)
        print(p, p.stat().st_size, "moov", moov_size(p))
