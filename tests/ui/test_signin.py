"""Sign-in: the key is checked, kept in session storage (never in a URL), and sent with
every call; a wrong key gets a message, sign-out forgets the key."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.ui.conftest import Org, Screens, go, sign_in


def test_root_redirects_to_the_ui_and_assets_are_served(org: Org) -> None:
    r = httpx.get(f"{org.url}/", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "/ui/"
    page = httpx.get(f"{org.url}/ui/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    js = httpx.get(f"{org.url}/ui/vendor/dagre/dagre.esm.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{org.url}/ui/vendor/dagre/LICENSE").status_code == 200
    assert httpx.get(f"{org.url}/ui/js/nothing-here.js").status_code == 404
    assert httpx.get(f"{org.url}/ui/..%2F..%2Fsettings.py").status_code == 404


def test_sign_in_keeps_the_key_in_session_storage(page: Page, org: Org, screens: Screens) -> None:
    page.goto(f"{org.url}/")
    expect(page).to_have_url(re.compile(r"/ui/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screens.shot(page, "sign-in")

    page.get_by_label("API key").fill("hr_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That key was not accepted.")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('headrace.apiKey')") is None
    screens.shot(page, "sign-in-refused")

    requests: list[dict[str, str]] = []
    page.on(
        "request",
        lambda req: requests.append(req.headers) if "/pipelines/" in req.url else None,
    )
    page.get_by_label("API key").fill(org.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Pipelines")).to_be_visible()
    expect(page.get_by_role("link", name="Datasets")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('headrace.apiKey')") == org.key
    assert org.key not in page.url
    assert requests and all(h.get("authorization") == f"Bearer {org.key}" for h in requests)
    assert all(
        org.key not in url for url in page.evaluate("performance.getEntries().map(e => e.name)")
    )
    screens.shot(page, "pipelines-empty")

    page.reload()  # the key survives a reload of the tab
    expect(page.get_by_role("heading", name="Pipelines")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('headrace.apiKey')") is None


def test_a_revoked_key_signs_the_user_out(page: Page, org: Org) -> None:
    viewer = org.post("/api-keys/", json={"name": "ui-viewer", "role": "viewer"})
    sign_in(page, Org(org.url, viewer["api_key"], org.http))
    org.http.delete(f"/api-keys/{viewer['id']}/").raise_for_status()
    go(page, "Datasets")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text(re.compile("Signed out"))).to_be_visible()
