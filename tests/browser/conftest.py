"""The reference upload page (web/) in Debian's headless Chromium, driven by Playwright, against a local stack.

The browser is the system one (`make test` installs the `chromium` package): Playwright never
downloads a browser here. A screenshot of the page after each flow lands in .local/screenshots/.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from devstack.launcher import RunningStack, start_stack
from tests.conftest import ROOT
from tests.mediafactory import STACK_PARAMS

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # A camera and a microphone that exist without hardware, granted without a prompt.
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
]  # fmt: skip
SCREENSHOTS = ROOT / ".local" / "screenshots"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # Multipart from 5 MiB with 5 MiB parts (STACK_PARAMS), so an 11 MiB file goes up in 3 parts.
    running = start_stack(tmp_path_factory.mktemp("browser-stack"), params=STACK_PARAMS)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 900, "height": 1000}, accept_downloads=True)
    opened = context.new_page()
    console: list[str] = []
    opened.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    opened.console_messages_seen = console  # type: ignore[attr-defined]
    yield opened
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def open_upload_page(page: Page, stack: RunningStack) -> None:
    """The page as a user finds it, with a local token fetched by its own button."""
    page.goto(stack.description["web_url"])
    page.click("#local-token")
    page.wait_for_function("document.getElementById('token').value.length > 20")


def page_state(page: Page) -> Any:
    return page.evaluate("JSON.parse(JSON.stringify(window.practika))")
