"""The reference upload page in a real browser: every flow crosses origins (page, API, S3 are three).

Without the template's CORS rules each of these fails in the browser: the API's preflight finds
no route, the buckets refuse preflights, and a part's ETag cannot be read.
"""

from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, Request, Route

from devstack.auth import make_token
from tests import mediafactory
from tests.browser.conftest import open_upload_page, page_state

PART_BYTES = int(mediafactory.STACK_PARAMS["MultipartPartBytes"])
FLOW_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 4 s (MaxDurationSeconds is 5 in the test stack), with a moving pattern to see in a clip.
    return mediafactory.make_video(tmp_path_factory.mktemp("media") / "small.mp4", duration_s=4.0)


@pytest.fixture(scope="module")
def big_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Two full parts and a last one of 1 MiB: three parts above the 5 MiB multipart threshold.
    return mediafactory.make_noise_video(
        tmp_path_factory.mktemp("media") / "big.mp4", size_bytes=2 * PART_BYTES + 1024 * 1024, duration_s=4.0
    )


def upload_file(page: Page, path: Path) -> None:
    page.set_input_files("#file", str(path))
    page.click("#upload")
    wait_for_text(page, "#video-state", ("ready", "rejected"))


def wait_for_text(page: Page, selector: str, prefixes: tuple[str, ...], timeout_ms: int = FLOW_TIMEOUT_MS) -> str:
    """Wait until the element's text starts with one of `prefixes` (or says failed) and return it."""
    page.wait_for_function(
        """([selector, prefixes]) => {
             const text = document.querySelector(selector).textContent;
             return prefixes.some((p) => text.startsWith(p)) || document.body.innerText.includes("failed:");
           }""",
        arg=[selector, list(prefixes)], timeout=timeout_ms,
    )  # fmt: skip
    return str(page.text_content(selector))


def test_a_small_file_goes_up_by_presigned_post_with_progress_and_becomes_ready(page, stack, small_video):
    open_upload_page(page, stack)

    upload_file(page, small_video)

    assert page.text_content("#video-state") == "ready", page.text_content("#log")
    state = page_state(page)
    assert [e["method"] for e in state["events"] if e["type"] == "uploaded"] == ["POST"]
    assert page.text_content("#percent") == "100%"
    assert state["video"]["media"]["container"] == "mp4"


def test_a_file_above_the_multipart_threshold_goes_up_in_parallel_parts_and_a_failed_part_is_retried(
    page, stack, big_video
):
    in_flight: set[str] = set()
    most_in_flight = 0
    failed: list[str] = []

    def started(request: Request) -> None:
        nonlocal most_in_flight
        if request.method == "PUT" and "partNumber=" in request.url:
            in_flight.add(request.url)
            most_in_flight = max(most_in_flight, len(in_flight))

    def ended(request: Request) -> None:
        in_flight.discard(request.url)

    def fail_part_two_once(route: Route) -> None:
        if route.request.method == "PUT" and "partNumber=2&" in route.request.url + "&" and not failed:
            failed.append(route.request.url)
            # What S3 answers on a transient fault, with the CORS header S3 adds to its errors.
            route.fulfill(
                status=500,
                body="<Error><Code>InternalError</Code></Error>",
                headers={"Access-Control-Allow-Origin": stack.description["web_url"]},
            )
            return
        route.continue_()

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    page.route(lambda url: "partNumber=" in url, fail_part_two_once)
    open_upload_page(page, stack)

    upload_file(page, big_video)

    assert page.text_content("#video-state") == "ready", page.text_content("#log")
    state = page_state(page)
    assert len(state["events"][0]["video"]["upload"]["parts"]) == 3
    assert [e for e in state["events"] if e["type"] == "uploaded"] == [
        {"type": "uploaded", "method": "MULTIPART", "parts": 3}
    ]
    retried = [e for e in state["events"] if e["type"] == "part_failed"]
    assert [(e["part_number"], e["attempt"]) for e in retried] == [(2, 1)]
    assert "500" in retried[0]["error"]
    assert most_in_flight >= 2, "parts went up one at a time"
    assert state["video"]["media"]["size_bytes"] == big_video.stat().st_size


def test_a_recording_from_the_camera_is_uploaded_and_validated(page, stack):
    open_upload_page(page, stack)

    page.click("#record")
    outcome = wait_for_text(page, "#video-state", ("ready", "rejected"))

    state = page_state(page)
    assert page.text_content("#upload-state") == "uploaded", page.text_content("#log")
    created = state["events"][0]["video"]
    assert created["upload"]["method"] == "POST"
    assert created["upload"]["fields"]["Content-Type"] == "video/webm"
    # The bytes crossed to S3 and were judged: a MediaRecorder WebM (no duration, no cues) is ready,
    # with the duration of its packets.
    assert outcome == "ready", state["video"]["rejection"]
    assert state["video"]["media"]["container"] == "webm"
    assert state["video"]["media"]["duration_s"] > 0


def test_a_clip_plays_in_the_page_and_downloads(page, stack, small_video, tmp_path):
    open_upload_page(page, stack)
    upload_file(page, small_video)
    assert page.text_content("#video-state") == "ready", page.text_content("#log")

    page.fill("#start", "0.5")
    page.fill("#end", "3")
    page.click("#clip")
    assert wait_for_text(page, "#clip-state", ("ready", "failed")) == "ready", page.text_content("#log")

    # It plays: time advances, and a decoded frame drawn to a canvas has picture in it (a canvas
    # can only be read back when the clips bucket's CORS rule lets this origin read the video).
    page.wait_for_function("document.getElementById('player').currentTime > 0.5", timeout=15_000)
    picture: dict[str, Any] = page.evaluate(
        """() => {
             const video = document.getElementById("player");
             const canvas = document.createElement("canvas");
             canvas.width = video.videoWidth; canvas.height = video.videoHeight;
             const context = canvas.getContext("2d");
             context.drawImage(video, 0, 0);
             const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
             let lit = 0, colours = new Set();
             for (let i = 0; i < pixels.length; i += 4) {
               if (pixels[i] + pixels[i + 1] + pixels[i + 2] > 60) lit++;
               colours.add(pixels[i] >> 5 << 6 | pixels[i + 1] >> 5 << 3 | pixels[i + 2] >> 5);
             }
             const lit_share = lit / (pixels.length / 4);
             return { width: canvas.width, height: canvas.height, lit: lit_share, colours: colours.size };
           }"""
    )  # fmt: skip
    assert (picture["width"], picture["height"]) == (320, 240)
    assert picture["lit"] > 0.3 and picture["colours"] > 8, picture

    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "clip.mp4"
    download.value.save_as(saved)
    assert saved.read_bytes()[4:8] == b"ftyp"


def test_a_page_on_an_origin_the_template_does_not_allow_is_refused_by_the_api_and_s3(page, stack, small_video):
    api = stack.description["api_url"]
    token = make_token("browser-cors")
    body = {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 1000}
    headers = {"Authorization": f"Bearer {token}"}
    upload = requests.post(f"{api}/videos", json=body, headers=headers, timeout=10).json()["upload"]
    # Its last part holds 1000 bytes: each part URL signs its part's size (S3 refuses any other).
    big = {**body, "size_bytes": PART_BYTES + 1000}
    parts = requests.post(f"{api}/videos", json=big, headers=headers, timeout=10).json()["upload"]["parts"]
    part_url = parts[-1]["url"]
    calls = """async ([api, token, body, upload, partUrl]) => {
        const tryIt = (call) => call().then((r) => r.status, (e) => e.name);
        const form = new FormData();
        for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
        form.append("file", new Blob([new Uint8Array(1000)], {type: "video/mp4"}));
        return {
          api: await tryIt(() => fetch(api + "/videos", {method: "POST", body: JSON.stringify(body),
                 headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"}})),
          s3: await tryIt(() => fetch(upload.url, {method: "POST", body: form})),
          s3_part: await tryIt(() => fetch(partUrl, {method: "PUT", body: new Uint8Array(1000)})),
        };
      }"""
    args = [api, token, body, upload, part_url]

    # From the allowed origin (the page's own) both calls go through...
    page.goto(stack.description["web_url"])
    assert page.evaluate(calls, args) == {"api": 201, "s3": 204, "s3_part": 200}

    # ...and from another origin (the same page as http://localhost:<port>: another origin, still
    # loopback, so Chromium's private-network rules stay out of it) the browser refuses all three: the
    # API's and S3's preflight answers and S3's form answer name no such origin: a network error.
    # (The form POST is a simple request: S3 stores it; CORS only hides the answer from the page.)
    page.goto(stack.description["web_url"].replace("127.0.0.1", "localhost"))
    assert page.evaluate(calls, args) == {"api": "TypeError", "s3": "TypeError", "s3_part": "TypeError"}
    refusals = [m for m in page.console_messages_seen if "blocked by CORS policy" in m]  # type: ignore[attr-defined]
    assert any("/videos" in m and "preflight" in m and "No 'Access-Control-Allow-Origin'" in m for m in refusals), (
        refusals
    )
    assert any(upload["url"] in m and "No 'Access-Control-Allow-Origin'" in m for m in refusals), refusals
    assert any(part_url.split("?")[0] in m and "preflight" in m for m in refusals), refusals
