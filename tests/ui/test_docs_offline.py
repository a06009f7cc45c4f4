"""With no internet: /docs (Swagger UI) and /redoc render the API from files the package
serves, and the web UI loads nothing from outside. Every request that leaves loopback is
aborted and recorded, so a CDN link fails the test instead of hanging it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.ui.conftest import Org, go, sign_in

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass
class Offline:
    page: Page
    outside: list[str]  # what the page tried to fetch from anywhere but this machine
    errors: list[str]  # console errors and uncaught exceptions


@pytest.fixture
def offline(browser: Browser) -> Iterator[Offline]:
    """A tab whose requests beyond loopback are aborted and recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    found = Offline(context.new_page(), [], [])

    def only_loopback(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.hostname in LOOPBACK:
            route.continue_()
        else:
            found.outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    found.page.on("pageerror", lambda err: found.errors.append(str(err)))
    found.page.on("console", lambda m: found.errors.append(m.text) if m.type == "error" else None)
    yield found
    context.close()


def test_swagger_ui_renders_the_operations_offline(offline: Offline, org: Org) -> None:
    page = offline.page
    page.goto(f"{org.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("headrace")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() >= 20
    expect(page.locator(".opblock-summary-path[data-path='/pipelines/']").first).to_be_visible()
    assert (offline.outside, offline.errors) == ([], [])


def test_redoc_renders_the_operations_offline(offline: Offline, org: Org) -> None:
    page = offline.page
    page.goto(f"{org.url}/redoc")
    expect(page.get_by_role("heading", name="headrace").first).to_be_visible()
    expect(page.locator("[data-section-id^='operation/']").first).to_be_attached()
    assert page.locator("[data-section-id^='operation/']").count() >= 20
    # ReDoc's own logo from its vendor's CDN is refused by the page's policy before any
    # request: the browser says so on its console, and nothing else goes wrong.
    assert offline.outside == []
    assert all("cdn.redoc.ly/redoc/logo-mini.svg" in e for e in offline.errors), offline.errors


def test_the_ui_loads_nothing_from_outside(offline: Offline, org: Org) -> None:
    page = offline.page
    org.post("/datasets/", data={"name": "d"}, files={"file": ("d.csv", b"a\n1\n", "text/csv")})
    sign_in(page, org)
    go(page, "Datasets")
    page.locator("#datasets").get_by_role("link", name="d").click()
    expect(page.locator("#rows tbody tr")).to_have_count(1)
    go(page, "Pipelines")
    expect(page.get_by_role("heading", name="Pipelines")).to_be_visible()
    assert (offline.outside, offline.errors) == ([], [])
