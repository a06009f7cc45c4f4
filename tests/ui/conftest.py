"""Browser tests of the web UI: headless Debian Chromium driven by Playwright, against a real
``headrace serve`` (with its in-process worker) started once per session by tests/live.py.

Each test signs in with the admin key of its own organisation, so tests never see each
other's pipelines. Screenshots of every page go to ``test-output/ui/`` (git-ignored).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.live import Served, served

__all__ = ["served"]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "ui"

# Runs go through a real worker; give waits more room than Playwright's default 5 s.
expect.set_options(timeout=20_000)


@dataclass
class Org:
    """The API of one fresh organisation on the served instance."""

    url: str
    key: str
    http: httpx.Client

    def post(self, path: str, **kwargs: Any) -> Any:
        r = self.http.post(path, **kwargs)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def get(self, path: str, **kwargs: Any) -> Any:
        r = self.http.get(path, **kwargs)
        assert r.status_code == 200, r.text
        return r.json()

    def wait_run(self, pipeline_id: str, run_id: str) -> dict[str, Any]:
        """The run once it has ended (polls the API; the deadline only bounds a hang)."""
        deadline = time.monotonic() + 60
        while True:
            run: dict[str, Any] = self.get(f"/pipelines/{pipeline_id}/runs/{run_id}/")
            if run["finished_at"] is not None:
                return run
            assert time.monotonic() < deadline, f"run still {run['status']}"
            time.sleep(0.05)


@pytest.fixture
def org(served: Served) -> Iterator[Org]:
    key = served.new_org_key()
    with httpx.Client(
        base_url=served.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        yield Org(served.url, key, http)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):  # fail, don't skip: a skip would hide a missing install
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y --no-install-recommends chromium")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@dataclass
class Screens:
    """Saves full-page screenshots as test-output/ui/<test>/<n>-<name>.png."""

    folder: Path
    count: int = 0

    def shot(self, page: Page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=path, full_page=True)
        return path


@pytest.fixture
def screens(request: pytest.FixtureRequest) -> Screens:
    folder = SCREENSHOTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return Screens(folder)


def _is_problem(message: ConsoleMessage) -> bool:
    # A refused request shows up as a console error of its own; the tests check what the
    # page shows for it instead. Anything else logged as an error is a bug.
    return message.type == "error" and "Failed to load resource" not in message.text


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh 1280x800 tab; the test fails if the page throws or logs an error."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    tab.on("console", lambda m: problems.append(f"console: {m.text}") if _is_problem(m) else None)
    yield tab
    context.close()
    assert problems == []


def sign_in(page: Page, org: Org) -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"{org.url}/ui/")
    page.get_by_label("API key").fill(org.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Pipelines")).to_be_visible()


def go(page: Page, section: str) -> None:
    """Follow a link of the main navigation ("Pipelines", "Datasets")."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=section).click()
