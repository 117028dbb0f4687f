"""The browser tier: headless Chromium (Debian's ``chromium``), driven by Playwright.

Playwright's own browser downloads are not used (they need a host this tier must not depend on):
it launches the system Chromium by path. Every request a page makes to a host other than the
service's is refused and recorded, so a test can assert that a page needs no network.
Screenshots go to ``.work/artefacts/browser/`` and are listed at the end of the run.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

BROWSER_ARTEFACTS = Path(__file__).resolve().parents[2] / ".work" / "artefacts" / "browser"
# Headless, as root in a container, and quiet: without the background-networking flags Chromium
# calls Google's hosts at start-up (component updates, sync), which a closed network refuses.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
#: When this process started: screenshots written since belong to this run (any xdist worker's).
_STARTED = time.time()


def chromium_unavailable_reason() -> str | None:
    """Why the browser tier cannot run here, or None."""
    if shutil.which("chromium") is None:
        return "no chromium on PATH (scripts/setup-engines.sh installs Debian's chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session; skips with the reason when it cannot start."""
    reason = chromium_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class OfflinePage:
    """A browser page whose requests to other hosts are refused and recorded.

    Attributes:
        page: The Playwright page.
        refused: URLs the page tried to fetch from a host other than the service's.
        errors: Uncaught JavaScript errors on the page.
    """

    page: Any
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open_model_page(self, url: str) -> dict[str, Any]:
        """Open a service's model page; returns what the service put in it (metadata, metrics)."""
        self.page.goto(f"{url}/")
        self.page.wait_for_selector("body[data-ready=true]")
        data: dict[str, Any] = self.page.evaluate(
            "JSON.parse(document.getElementById('model-data').textContent)"
        )
        return data

    def submit(self) -> None:
        """Submit the model page's form; wait until it shows the new answer or an error.

        The page hides the last answer before it sends, so what is visible afterwards is new.
        """
        with self.page.expect_response(lambda response: response.url.endswith("/infer")):
            self.page.click("#predict")
        self.page.wait_for_selector("#answer:not([hidden]), .error:not([hidden])")

    def labels(self) -> list[Any]:
        """The answers the model page shows, one per row, as the service sent them."""
        cells = self.page.locator("td.label")
        return [json.loads(cells.nth(i).get_attribute("data-label")) for i in range(cells.count())]

    def sent_again(self, url: str) -> tuple[int, Any]:
        """The request the page last sent (its v2 JSON), sent again straight to the service."""
        body = json.loads(self.page.inner_text("#request-json"))
        response = self.page.request.post(url, data=body)
        return response.status, response.json()

    def screenshot(self, name: str) -> Path:
        """Write a full-page screenshot to the artefacts folder; returns its path."""
        BROWSER_ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = BROWSER_ARTEFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def offline_page(browser: Any) -> Iterator[OfflinePage]:
    """A fresh page (own context: no cache or cookies shared) with every non-local request refused."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    offline = OfflinePage(page)

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            request_route.continue_()
        else:
            offline.refused.append(url)
            request_route.abort()

    context.route("**/*", route)
    page.on("pageerror", lambda error: offline.errors.append(str(error)))
    yield offline
    context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List the screenshots written in this run, so a reader of the log can open them."""
    # Workers take the screenshots; the controller, which writes the summary, finds them on disk.
    shots = (
        sorted(path for path in BROWSER_ARTEFACTS.glob("*.png") if path.stat().st_mtime >= _STARTED)
        if BROWSER_ARTEFACTS.is_dir()
        else []
    )
    if shots:
        terminalreporter.write_sep("-", "browser screenshots")
        for path in shots:
            terminalreporter.write_line(str(path))
