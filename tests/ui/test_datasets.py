"""Dataset pages: list, schema, versions with the run and step that wrote them, a preview
of rows, and a download made with the key."""

from __future__ import annotations

import csv
import io
import re

from playwright.sync_api import Page, expect

from tests.factories import generated_steps
from tests.ui.conftest import Org, Screens, go, sign_in

CSV_V0 = "id,city,amount\n1,Lyon,10.5\n2,Oslo,7.25\n3,Quito,3\n"
CSV_V1 = CSV_V0 + "4,Accra,12\n"


def _upload(org: Org, name: str, text: str) -> dict[str, object]:
    files = {"file": (f"{name}.csv", text.encode(), "text/csv")}
    result: dict[str, object] = org.post("/datasets/", data={"name": name}, files=files)
    return result


def test_dataset_pages(page: Page, org: Org, screens: Screens) -> None:
    _upload(org, "cities", CSV_V0)
    _upload(org, "cities", CSV_V1)
    pipeline = org.post("/pipelines/", json={"name": "gen", "steps": generated_steps()})
    run = org.post(f"/pipelines/{pipeline['id']}/runs/", json={})
    org.wait_run(pipeline["id"], run["id"])

    sign_in(page, org)
    go(page, "Datasets")
    listing = page.locator("#datasets")
    expect(listing.locator("tr[data-dataset='cities']")).to_contain_text("v1")
    expect(listing.locator("tr[data-dataset='cities']")).to_contain_text("4")
    expect(listing.locator("tr[data-dataset='numbers']")).to_be_visible()
    screens.shot(page, "datasets")

    listing.get_by_role("link", name="cities").click()
    expect(page.get_by_role("heading", name="cities")).to_be_visible()
    schema = page.locator("#schema")
    for column in ("id", "city", "amount"):
        expect(schema.locator(f"tr[data-column='{column}']")).to_be_visible()
    expect(schema.locator("tr[data-column='city']")).to_contain_text(
        re.compile("string|varchar", re.I)
    )
    versions = page.locator("#versions tbody tr")
    expect(versions).to_have_count(2)
    expect(page.locator("#versions tr[data-version='0']")).to_contain_text("upload")
    rows = page.locator("#rows tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#rows")).to_contain_text("Accra")
    screens.shot(page, "dataset-current")

    page.locator("#preview-version").select_option("0")
    expect(rows).to_have_count(3)
    expect(page.locator("#rows")).not_to_contain_text("Accra")

    page.locator("#download-format").select_option("csv")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    path = download.path()
    got = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [r["city"] for r in got] == ["Lyon", "Oslo", "Quito"]

    # A dataset a step wrote names its run and step, and links to the run.
    go(page, "Datasets")
    page.locator("#datasets").get_by_role("link", name="numbers").click()
    written = page.locator("#versions tr[data-version='0']")
    expect(written).to_contain_text("step")
    expect(written.locator(".step-name")).to_have_text("gen")
    screens.shot(page, "dataset-written-by-step")
    written.locator("a[data-run]").click()
    expect(page).to_have_url(re.compile(rf"#/pipelines/{pipeline['id']}/runs/{run['id']}$"))
    expect(page.locator("#run-status")).to_have_attribute("data-status", "Succeeded")
