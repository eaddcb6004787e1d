"""Resource bombs through the validate worker's own code path (moto server, real ffprobe over HTTP):
each is decided within the function's time, and every ffprobe run stays far below its memory.

Crafted from small generated files by patching headers: a picture size the container declares,
a picture size only the frames declare (the container says 256x256), a frame count of 2^31 in the
index, hundreds of streams, boxes nested thousands deep. Every ffprobe run goes through a wrapper
that records its peak RSS.
"""

import json
import struct
import sys
import time
from pathlib import Path

import pytest

from practika.media import tools
from tests import mediafactory
from tests.integration.test_validate import (  # noqa: F401 - the corpus tests' stack fixture and helpers
    put_object,
    request_upload,
    run_validate,
    s3_event,
    stack,
    video_item,
)

pytestmark = pytest.mark.usefixtures("stack")

# ValidateFunction has 1024 MB; the Python runtime and boto3 take ~150 MB of it.
MEMORY_BUDGET_KB = 700 * 1024
FUNCTION_TIMEOUT_S = 30.0

MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[2:])
with open(sys.argv[1], "a") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) + "\\n")
sys.exit(done.returncode)
"""


@pytest.fixture
def peak_rss_kb(monkeypatch, tmp_path):
    """Peak RSS (KB) of every ffmpeg/ffprobe the code under test runs, in order."""
    log = tmp_path / "rss.txt"
    original = tools.run

    def measured(args: list[str], timeout_s: float) -> tools.ToolResult:
        return original([sys.executable, "-c", MEASURE, str(log), *args], timeout_s)

    monkeypatch.setattr(tools, "run", measured)
    return lambda: [int(line) for line in log.read_text().split()] if log.exists() else []


def _webm(directory: Path) -> bytes:
    path = mediafactory.make_video(
        directory / "base.webm", duration_s=1.0, size="256x256", fps=10, vcodec="libvpx-vp9", acodec=None
    )
    # VP8 keeps its picture size in a fixed place of every key frame: re-encode as VP8 to patch it.
    mediafactory._ffmpeg("-i", str(path), "-c:v", "libvpx", "-b:v", "100k", str(directory / "vp8.webm"))
    return (directory / "vp8.webm").read_bytes()


def frames_claim(directory: Path, width: int, height: int, *, container_too: bool) -> Path:
    data = bytearray(_webm(directory))
    start = 0
    while (start := data.find(b"\x9d\x01\x2a", start)) >= 0:  # VP8 key frame start code, then w, h (14 bits)
        data[start + 3 : start + 7] = struct.pack("<HH", width, height)
        start += 3
    if container_too:  # Matroska PixelWidth (B0) / PixelHeight (BA), 2-byte values for 256
        for tag, value in ((b"\xb0\x82", width), (b"\xba\x82", height)):
            at = data.find(tag + b"\x01\x00")
            data[at + 2 : at + 4] = struct.pack(">H", value)
    path = directory / f"claims_{width}x{height}_{'both' if container_too else 'frames'}.webm"
    path.write_bytes(bytes(data))
    return path


def _boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    out, at = [], 0
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        out.append((kind, data[at + 8 : at + size]))
        at += size
    return out


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def frame_count_bomb(directory: Path) -> Path:
    """An MP4 whose index says 2^31 - 1 frames lasting 2^32 - 1 ticks (moov at the end: offsets stay valid)."""
    data = bytearray(mediafactory.make_video(directory / "base.mp4", acodec=None, faststart=False).read_bytes())
    at = data.find(b"stts")
    struct.pack_into(">I", data, at + 12, 0x7FFFFFFF)  # version/flags, entry count, then the first count
    for kind in (b"mvhd", b"mdhd"):  # version 0: flags, creation, modification, timescale, then duration
        at = data.find(kind)
        struct.pack_into(">I", data, at + 20, 0xFFFFFFFF)
    path = directory / "frame_count_bomb.mp4"
    path.write_bytes(bytes(data))
    return path


def deeply_nested(directory: Path, depth: int = 3000) -> Path:
    """A valid MP4 whose moov also holds `trak` boxes nested `depth` deep."""
    data = mediafactory.make_video(directory / "nest_base.mp4", acodec=None, faststart=False).read_bytes()
    chain = b""
    for _ in range(depth):
        chain = _box(b"trak", chain)
    out = b"".join(_box(kind, payload + chain if kind == b"moov" else payload) for kind, payload in _boxes(data))
    path = directory / "deeply_nested.mp4"
    path.write_bytes(out)
    return path


def many_streams(directory: Path, count: int = 150) -> Path:
    path = directory / "many_streams.mkv"
    maps = [arg for _ in range(count) for arg in ("-map", "0:v")]
    mediafactory._ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=32x32:rate=5:duration=1", *maps, "-c:v", "mpeg4", str(path)
    )
    return path


def validate(path: Path, content_type: str) -> tuple[dict, float]:
    case = mediafactory.MediaCase(path.stem, path, content_type, "rejected")
    video_id = request_upload(case)
    put_object(f"uploads/{video_id}", path)
    started = time.monotonic()
    result = run_validate(s3_event(f"uploads/{video_id}"), timeout_s=FUNCTION_TIMEOUT_S)
    elapsed = time.monotonic() - started
    assert result == {"batchItemFailures": []}
    return video_item(video_id), elapsed


@pytest.mark.parametrize(
    ("size", "container_too", "code"),
    [
        # The decoders' picture cap makes ffprobe fail on it before the limit is even compared: corrupt.
        pytest.param((16000, 16000), True, "corrupt", id="declared-16000x16000"),
        pytest.param((16000, 16000), False, "corrupt", id="frames-say-16000x16000-container-says-256x256"),
        pytest.param((16383, 16383), False, "corrupt", id="frames-say-16383x16383"),
    ],
)
def test_a_huge_picture_size_is_rejected_without_allocating_it(peak_rss_kb, tmp_path, size, container_too, code):
    path = frames_claim(tmp_path, *size, container_too=container_too)

    item, elapsed = validate(path, "video/webm")

    assert item["status"] == "rejected"
    assert item["rejection"]["code"] == code
    assert elapsed < FUNCTION_TIMEOUT_S - 10
    assert peak_rss_kb() and max(peak_rss_kb()) < MEMORY_BUDGET_KB, peak_rss_kb()


def test_an_index_claiming_two_billion_frames_is_decided_within_time_and_memory(peak_rss_kb, tmp_path):
    item, elapsed = validate(frame_count_bomb(tmp_path), "video/mp4")

    assert item["status"] == "rejected"
    assert item["rejection"]["code"] in ("too_long", "corrupt")
    assert elapsed < FUNCTION_TIMEOUT_S - 10
    assert max(peak_rss_kb()) < MEMORY_BUDGET_KB, peak_rss_kb()


@pytest.mark.parametrize("make", [deeply_nested, many_streams], ids=["boxes-nested-3000-deep", "150-video-streams"])
def test_nested_and_many_stream_containers_are_decided_within_time_and_memory(peak_rss_kb, tmp_path, make):
    path = make(tmp_path)

    item, elapsed = validate(path, "video/mp4" if path.suffix == ".mp4" else "video/x-matroska")

    assert item["status"] in ("ready", "rejected"), json.dumps(item, default=str)
    assert elapsed < FUNCTION_TIMEOUT_S - 10
    assert max(peak_rss_kb()) < MEMORY_BUDGET_KB, peak_rss_kb()
