"""The hash router and the API paths it builds: ids in the page's address are UUIDs taken as
written, and each value the page puts in an API path stays one encoded segment."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from tests.ui.conftest import Org, sign_in

HOSTILE = [
    "#/datasets/..%2F..%2Fapi-keys%2F",
    "#/datasets/%2E%2E%2F%2E%2E%2Fapi-keys",
    "#/pipelines/..%2Fapi-keys",
    f"#/pipelines/{uuid.uuid4()}%2F..%2F..%2Fapi-keys%2F/runs",
    f"#/pipelines/{uuid.uuid4()}/runs/..%2F..%2F..%2Fapi-keys",
    "#/runs/..%2F..%2Fapi-keys",
]


def test_an_address_cannot_steer_the_page_to_another_api_path(page: Page, org: Org) -> None:
    called: list[str] = []
    page.on("request", lambda r: called.append(r.url))
    sign_in(page, org)
    for address in HOSTILE:
        called.clear()
        page.goto(f"{org.url}/ui/{address}")
        expect(page.locator("#main")).to_contain_text("There is no such page")
        assert not [url for url in called if "api-keys" in url], (address, called)
    # A real id still opens its page.
    dataset = org.post(
        "/datasets/", data={"name": "d"}, files={"file": ("d.csv", b"a\n1\n", "text/csv")}
    )
    page.goto(f"{org.url}/ui/#/datasets/{dataset['id'].upper()}")
    expect(page.get_by_role("heading", name="d")).to_be_visible()


def test_api_paths_encode_each_segment(page: Page, org: Org) -> None:
    page.goto(f"{org.url}/ui/")
    result = page.evaluate(
        """async () => {
            const { apiPath } = await import("./js/api.js");
            const refused = [];
            for (const bad of ["..", ".", ""]) {
                try { apiPath`/datasets/${bad}/`; } catch (err) { refused.push(bad); }
            }
            return { path: apiPath`/pipelines/${"a/../b?c#d"}/runs/${"x y"}/`, refused };
        }"""
    )
    assert result == {
        "path": "/pipelines/a%2F..%2Fb%3Fc%23d/runs/x%20y/",
        "refused": ["..", ".", ""],
    }
