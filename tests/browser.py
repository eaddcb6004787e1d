"""Play a clip in headless Chromium's <video> and report what its media pipeline saw.

The page plays the clip to its end and writes the outcome into the DOM; a second request the
page makes is held open until the clip has had time to play, so `--dump-dom` (which waits for
the document to finish loading) reads the outcome. A decode error ends playback with
`MEDIA_ERR_DECODE`; `getVideoPlaybackQuality()` counts the frames decoded and any corrupted.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_PAGE = """<!doctype html><html><body><video id="v" muted playsinline></video><pre id="out">pending</pre>
<script>
const v = document.getElementById('v'), out = document.getElementById('out');
const done = (what) => { const q = v.getVideoPlaybackQuality();
  out.textContent = JSON.stringify({what, error: v.error && v.error.code, message: v.error && v.error.message,
    total: q.totalVideoFrames, corrupted: q.corruptedVideoFrames, duration: v.duration, time: v.currentTime}); };
v.onended = () => done('ended'); v.onerror = () => done('error');
v.src = 'clip.mp4';
v.play().catch(e => { out.textContent = JSON.stringify({what: 'play failed', message: String(e)}); });
</script><img src="/hold"></body></html>"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def play(clip: Path, seconds: float) -> dict[str, Any]:
    """Play `clip` (about `seconds` long) in headless Chromium; what the page saw, as a dict."""
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium on PATH")
    body = clip.read_bytes()
    hold_s = seconds + 3.0

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def do_GET(self) -> None:
            if self.path == "/hold":
                time.sleep(hold_s)
                self.send_response(204)
                self.end_headers()
                return
            content, kind = (body, "video/mp4") if self.path == "/clip.mp4" else (_PAGE.encode(), "text/html")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/play.html"
        done = subprocess.run(
            [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio",
             "--autoplay-policy=no-user-gesture-required", "--dump-dom", url],
            capture_output=True, text=True, timeout=hold_s + 60, check=False,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    found = re.search(r'<pre id="out">([^<]*)</pre>', done.stdout)
    if found is None:
        raise RuntimeError(f"chromium wrote no outcome (exit {done.returncode}): {done.stderr[-500:]}")
    text = found.group(1).replace("&quot;", '"').replace("&amp;", "&")
    outcome: dict[str, Any] = json.loads(text) if text.startswith("{") else {"what": text}
    return outcome
