"""Recordings made the way a web app makes them: a real browser's MediaRecorder.

Debian's chromium runs headless with a fake camera and microphone
(`--use-fake-device-for-media-stream`, `--use-fake-ui-for-media-stream` grants the permission)
and loads a page from a local HTTP server (127.0.0.1 counts as a secure context, which
getUserMedia needs). The page records for a few seconds in 250 ms slices, as apps do, and POSTs
the blob back. Such a file is written live: WebM/Matroska without a Duration element and without
Cues, or a fragmented MP4, the layouts the validation must read without an index.
"""

from __future__ import annotations

import http.server
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

# What Chrome offers (MediaRecorder.isTypeSupported): VP8/VP9/H.264 in WebM, H.264 in Matroska,
# and MP4 (fragmented; Chrome puts VP9 and Opus in it).
RECORDINGS = {
    "vp8_opus_webm": ("video/webm;codecs=vp8,opus", ".webm"),
    "vp9_opus_webm": ("video/webm;codecs=vp9,opus", ".webm"),
    "h264_opus_webm": ("video/webm;codecs=h264,opus", ".webm"),
    "h264_opus_mkv": ("video/x-matroska;codecs=avc1,opus", ".mkv"),
    "fragmented_mp4": ("video/mp4", ".mp4"),
}

_PAGE = """<!doctype html><script>
const q = new URLSearchParams(location.search);
(async () => {
  const stream = await navigator.mediaDevices.getUserMedia(
    {video: {width: 320, height: 240, frameRate: 25}, audio: true});
  const recorder = new MediaRecorder(stream, {mimeType: q.get("type")});
  const chunks = [];
  recorder.ondataavailable = (e) => chunks.push(e.data);
  recorder.onstop = () => fetch("/recording", {method: "POST", body: new Blob(chunks)});
  recorder.start(250);
  setTimeout(() => recorder.stop(), Number(q.get("ms")));
})().catch((e) => fetch("/failed", {method: "POST", body: String(e)}));
</script>"""


def chromium_binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise FileNotFoundError("chromium not on PATH (`make test` installs it: apt-get install chromium)")
    return found


def record(path: Path, mime_type: str, seconds: float = 3.0, timeout_s: float = 60.0) -> Path:
    """Record `seconds` of the fake camera and microphone with MediaRecorder(`mime_type`) into `path`."""
    posted: dict[str, bytes] = {}
    arrived = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(_PAGE.encode())

        def do_POST(self) -> None:
            posted[self.path] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()
            arrived.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/?ms={int(seconds * 1000)}&type={quote(mime_type)}"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        browser = subprocess.Popen(
            [chromium_binary(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
             f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            started = time.monotonic()
            while not arrived.wait(0.2) and browser.poll() is None and time.monotonic() - started < timeout_s:
                pass
        finally:
            browser.terminate()
            browser.wait(10)
            server.shutdown()
    if "/recording" not in posted:
        raise RuntimeError(f"chromium made no recording of {mime_type}: {posted.get('/failed', b'').decode()}")
    path.write_bytes(posted["/recording"])
    return path
