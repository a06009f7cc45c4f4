"""A pipeline's page shows its schedules with their next fire times, its dataset triggers
and its limit; the run form takes the version's parameters, and a run says what started it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.factories import make_step
from tests.ui.conftest import Org, Screens, sign_in


def test_schedules_triggers_parameters_and_what_started_a_run(
    page: Page, org: Org, screens: Screens
) -> None:
    org.http.put(
        "/datasets/upsert/",
        json={"dataset_name": "feed", "row_unique_identifier": "id", "data": [{"id": 1}]},
    )
    pipeline = org.post(
        "/pipelines/",
        json={
            "name": "nightly",
            "steps": [make_step("s", "SELECT id + $n AS id FROM feed", ["feed"], ["fed"])],
            "parameters": [{"name": "n", "type": "integer", "default": 1}],
        },
    )
    base = f"/pipelines/{pipeline['id']}"
    org.post(f"{base}/schedules/", json={"cron": "30 2 * * *", "timezone": "Europe/Berlin"})
    org.post(f"{base}/triggers/", json={"datasets": ["feed"], "debounce_seconds": 600})
    r = org.http.patch(f"{base}/", json={"max_active_runs": 1, "on_limit": "skip"})
    assert r.status_code == 200, r.text

    sign_in(page, org)
    page.get_by_role("link", name="nightly").click()
    schedule = page.locator("#schedules tbody tr")
    expect(schedule).to_contain_text("30 2 * * *")
    expect(schedule).to_contain_text("Europe/Berlin")
    fires = schedule.locator(".next-fires li")
    expect(fires).to_have_count(5)
    assert all(re.search(r" 02:30[+-]0[12]:00$", t) for t in fires.all_inner_texts())
    expect(page.locator("#triggers tbody tr")).to_contain_text("feed")
    expect(page.locator("#limits")).to_contain_text("at most 1 active run(s)")
    expect(page.locator("#limits")).to_contain_text("skipped")
    screens.shot(page, "pipeline-automation")

    page.locator("input[data-param='n']").fill("41")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#run-trigger")).to_have_text("by hand")
    expect(page.locator("#run-parameters")).to_have_text("n=41")
