"""The webhooks pages: add one (its secret shown once), then watch a run's events arrive in
its deliveries log, delivered to a loopback receiver that verifies every signature."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.execution.support import wait_for
from tests.factories import generated_steps
from tests.services.receiver import Receiver
from tests.ui.conftest import Org, Screens, go, sign_in


def test_add_a_webhook_and_follow_its_deliveries(page: Page, org: Org, screens: Screens) -> None:
    with Receiver(fail_first=1) as receiver:
        sign_in(page, org)
        go(page, "Webhooks")
        expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
        page.get_by_label("URL").fill("http://")
        page.get_by_role("button", name="Add webhook").click()
        expect(page.locator(".form-message .error")).to_contain_text("has no host")

        page.get_by_label("URL").fill(receiver.url)
        page.get_by_label("Description").fill("ops channel")
        page.get_by_label("run.started").check()
        page.get_by_label("run.failed").uncheck()
        page.get_by_role("button", name="Add webhook").click()
        secret = page.locator("#new-secret code").inner_text()
        assert secret.startswith("whsec_")
        receiver.secrets.append(secret)
        row = page.locator("#webhooks tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("run.started, run.succeeded, run.error, run.cancelled")
        screens.shot(page, "webhooks")

        pipeline = org.post("/pipelines/", json={"name": "hooked", "steps": generated_steps()})
        run = org.post(f"/pipelines/{pipeline['id']}/runs/", json={})
        org.wait_run(pipeline["id"], run["id"])
        wait_for(lambda: len(receiver.received) == 3, what="two events, one sent twice")
        row.get_by_role("link", name=receiver.url).click()
        log = page.locator("#deliveries tbody tr")
        expect(log).to_have_count(2)
        started = page.locator("#deliveries tr[data-event='run.started']")
        expect(started).to_contain_text("delivered")
        expect(started.locator("td").nth(3)).to_have_text("2")
        expect(page.locator("#deliveries tr[data-event='run.succeeded']")).to_contain_text("204")
        screens.shot(page, "deliveries")

        go(page, "Webhooks")
        page.locator("#webhooks tbody tr").get_by_role("button", name="Delete").click()
        expect(page.locator("#webhooks tbody tr")).to_have_count(0)
    assert all(r.verified for r in receiver.received)
