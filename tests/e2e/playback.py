"""Play a clip in Debian's headless Chromium (`make test` installs it) and report what its <video> saw.

The page and the clip are served by Playwright's request routing (no server, no network): the
page plays the clip to its end and records the outcome. A decode error ends playback with
`MEDIA_ERR_DECODE`; `getVideoPlaybackQuality()` counts the frames decoded and any corrupted.
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from playwright.sync_api import Route, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS

ORIGIN = "http://clip.test"
_PAGE = """<!doctype html><html><body><video id="v" muted playsinline></video><script>
const v = document.getElementById('v');
window.outcome = null;
const done = (what) => { const q = v.getVideoPlaybackQuality();
  window.outcome = {what, error: v.error && v.error.code, message: v.error && v.error.message,
    total: q.totalVideoFrames, corrupted: q.corruptedVideoFrames, duration: v.duration, time: v.currentTime}; };
v.onended = () => done('ended'); v.onerror = () => done('error');
v.src = 'clip.mp4';
v.play().catch(e => { window.outcome = {what: 'play failed', message: String(e)}; });
</script></body></html>"""


def play(clip: Path, timeout_s: float = 30.0) -> dict[str, Any]:
    """Play `clip` to its end in Chromium's <video>; the outcome the page recorded.

    In a thread of its own: Playwright's sync API refuses to start where an event loop already runs
    (tests/browser keeps one open for the whole session when the suites run together).
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_play, clip, timeout_s).result()


def _play(clip: Path, timeout_s: float) -> dict[str, Any]:
    body = clip.read_bytes()

    def serve(route: Route) -> None:
        if route.request.url.endswith("/clip.mp4"):
            route.fulfill(status=200, body=body, content_type="video/mp4")
        else:
            route.fulfill(status=200, body=_PAGE, content_type="text/html")

    with sync_playwright() as playwright:
        flags = [*CHROMIUM_FLAGS, "--autoplay-policy=no-user-gesture-required"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        try:
            page = browser.new_page()
            page.route(f"{ORIGIN}/**", serve)
            page.goto(f"{ORIGIN}/play.html")
            page.wait_for_function("window.outcome !== null", timeout=timeout_s * 1000)
            outcome: dict[str, Any] = page.evaluate("window.outcome")
        finally:
            browser.close()
    return outcome
