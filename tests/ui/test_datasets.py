"""Dataset pages: list, schema, versions with the run and step that wrote them, a preview
of rows, and a download made with the key."""

from __future__ import annotations

import csv
import io
import re

from playwright.sync_api import Page, expect

from tests.factories import generated_steps, make_step
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


def test_a_dataset_never_written_says_so_and_offers_no_download(
    page: Page, org: Org, screens: Screens
) -> None:
    steps = [make_step("parse", "SELECT CAST('not a number' AS INTEGER) AS n", [], ["parsed"])]
    pipeline = org.post("/pipelines/", json={"name": "breaks", "steps": steps})
    run = org.post(f"/pipelines/{pipeline['id']}/runs/", json={})
    assert org.wait_run(pipeline["id"], run["id"])["status"] == "Failed"

    sign_in(page, org)
    go(page, "Datasets")
    row = page.locator("#datasets tr[data-dataset='parsed']")
    expect(row).to_contain_text("not written yet")
    row.get_by_role("link", name="parsed").click()
    expect(page.get_by_role("heading", name="parsed")).to_be_visible()
    expect(page.locator("#not-written")).to_contain_text("Nothing has been written")
    expect(page.get_by_role("button", name="Download")).to_have_count(0)
    expect(page.get_by_role("alert")).to_have_count(0)
    screens.shot(page, "dataset-not-written")


def test_an_error_states_each_problem_once_with_its_location(
    page: Page, org: Org, screens: Screens
) -> None:
    """The server's detail repeats its first problem; the page shows each problem once."""
    sign_in(page, org)
    shown = page.evaluate(
        """async () => {
            const { call } = await import("./js/api.js");
            const { errorBox } = await import("./js/dom.js");
            const texts = [];
            const form = new FormData();
            form.append("name", "empty");
            form.append("file", new Blob([""], { type: "text/csv" }), "empty.csv");
            const steps = ["a", "a"].map((name) => ({ name, config: {
                job_type: "data-transform", query_type: "sql", query: "SELECT * FROM nowhere",
                input_datasets: [], output_datasets: ["o"] } }));
            for (const request of [
                () => call("/datasets/", { method: "POST", body: form }),
                () => call("/pipelines/", { method: "POST", json: { name: 5, steps: "x" } }),
                () => call("/pipelines/", { method: "POST", json: { name: "bad", steps } }),
            ]) {
                try { await request(); texts.push("accepted"); }
                catch (err) {
                    const box = errorBox(err);
                    document.getElementById("main").append(box);
                    texts.push(box.innerText);
                }
            }
            return texts;
        }"""
    )
    screens.shot(page, "error-boxes")
    empty, shape, pipeline = shown
    assert empty.count("the file is empty") == 1 and "file: the file is empty" in empty, empty
    assert "name: Input should be a valid string" in shape, shape
    assert "steps: Input should be a valid list" in shape, shape
    assert shape.count("Input should be a valid string") == 1, shape
    assert pipeline.startswith("the pipeline has"), pipeline
    assert "steps.a.name: step name 'a' is used more than once" in pipeline, pipeline
    assert "body" not in empty + shape + pipeline
