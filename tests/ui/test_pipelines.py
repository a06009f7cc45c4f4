"""Pipeline pages: the list with the last run, the DAG laid out by dagre, versions and
their step-level diff, and the page at a phone's width."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.factories import diamond_steps, make_step
from tests.ui.conftest import Org, Screens, go, sign_in


def _boxes(page: Page, selector: str) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = page.eval_on_selector_all(
        selector,
        """els => Object.fromEntries(els.map(el => {
            const r = el.querySelector('rect').getBoundingClientRect();
            const name = el.dataset.step || el.dataset.dataset;
            return [name, {x: r.x, y: r.y, w: r.width, h: r.height}];
        }))""",
    )
    return found


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def test_pipeline_graph_has_the_steps_and_dataset_edges(
    page: Page, org: Org, screens: Screens
) -> None:
    steps: list[dict[str, Any]] = diamond_steps()
    pipeline = org.post("/pipelines/", json={"name": "diamond", "steps": steps})
    sign_in(page, org)
    row = page.locator("#pipelines tr[data-pipeline='diamond']")
    expect(row).to_contain_text("v1")
    expect(row.locator(".last-run")).to_contain_text("no runs")
    screens.shot(page, "pipelines")

    row.get_by_role("link", name="diamond").click()
    expect(page.get_by_role("heading", name="diamond", exact=True)).to_be_visible()
    graph = page.locator("#graph svg.dag")
    nodes = graph.locator("g.node.step")
    expect(nodes).to_have_count(4)
    for name in ("src", "left", "right", "join"):
        expect(graph.locator(f"g.node.step[data-step='{name}']")).to_contain_text(name)

    edges = graph.locator("g.edge:not(.io)")
    expect(edges).to_have_count(4)
    found = {
        (e.get_attribute("data-from"), e.get_attribute("data-to"), e.get_attribute("data-datasets"))
        for e in edges.all()
    }
    assert found == {
        ("src", "left", "base"),
        ("src", "right", "base"),
        ("left", "join", "evens"),
        ("right", "join", "odds"),
    }
    for label in ("base", "evens", "odds"):
        expect(graph.locator("text.edge-label", has_text=label).first).to_be_visible()
    # The final output no step reads ends the graph as a dataset node.
    expect(graph.locator("g.node.dataset[data-dataset='all_numbers']")).to_be_visible()

    boxes = _boxes(page, "#graph g.node")
    names = list(boxes)
    assert len(names) == 5
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not _overlap(boxes[a], boxes[b]), (a, b)
    # Left to right: each step sits right of the steps it reads from.
    assert boxes["src"]["x"] < boxes["left"]["x"] < boxes["join"]["x"]
    assert boxes["src"]["x"] < boxes["right"]["x"] < boxes["join"]["x"]
    assert boxes["join"]["x"] < boxes["all_numbers"]["x"]
    screens.shot(page, "pipeline-graph")

    # A second version: one query changed, one step added, one input list changed.
    v2 = [dict(s) for s in steps]
    v2[1] = make_step("left", "SELECT n FROM base WHERE n % 2 = 0 AND n > 0", ["base"], ["evens"])
    v2.append(make_step("count", "SELECT count(*) AS c FROM all_numbers", ["all_numbers"]))
    org.post(f"/pipelines/{pipeline['id']}/versions/", json={"steps": v2})
    page.reload()
    expect(page.locator("#graph g.node.step")).to_have_count(5)
    diff = page.locator("#diff-result")
    expect(diff).to_contain_text("2 step(s) differ between v1 and v2")
    expect(diff.locator("li[data-step='left']")).to_have_attribute("data-change", "changed")
    expect(diff.locator("li[data-step='left'] .line.add")).to_contain_text("AND n > 0")
    expect(diff.locator("li[data-step='count']")).to_have_attribute("data-change", "added")
    expect(diff.locator("li[data-step='src']")).to_have_attribute("data-change", "same")
    screens.shot(page, "pipeline-versions-diff")

    # Comparing a version with itself shows no difference.
    page.locator("#diff-from").select_option(
        label=page.locator("#diff-to option").first.inner_text()
    )
    expect(diff).to_contain_text("have the same steps")


def test_pipeline_page_is_usable_at_phone_width(page: Page, org: Org, screens: Screens) -> None:
    pipeline = org.post("/pipelines/", json={"name": "phone", "steps": diamond_steps()})
    sign_in(page, org)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{org.url}/ui/#/pipelines/{pipeline['id']}")
    expect(page.locator("#graph g.node.step")).to_have_count(4)
    expect(page.get_by_role("button", name="Start run")).to_be_visible()
    # The page itself never scrolls sideways: wide graphs and tables scroll in their box.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screens.shot(page, "pipeline-phone")
    go(page, "Pipelines")
    expect(page.locator("#pipelines tr[data-pipeline='phone']")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screens.shot(page, "pipelines-phone")


def test_the_output_columns_and_a_breaking_change_with_its_readers(
    page: Page, org: Org, screens: Screens
) -> None:
    v1 = [make_step("src", "SELECT 1 AS id, 'a' AS tag", [], ["base"])]
    pipeline = org.post("/pipelines/", json={"name": "producer", "steps": v1})
    reader = [make_step("uses", "SELECT tag FROM base", ["base"], ["used"])]
    org.post("/pipelines/", json={"name": "consumer", "steps": reader})
    v2 = [make_step("src", "SELECT 1 AS id", [], ["base"])]
    org.post(f"/pipelines/{pipeline['id']}/versions/", json={"steps": v2})
    sign_in(page, org)
    page.get_by_role("link", name="producer").click()
    schema = page.locator(".step-config[data-step='src'] .output-schema[data-dataset='base']")
    expect(schema).to_contain_text("id")
    expect(schema).to_contain_text("INTEGER")
    item = page.locator("#diff-result li[data-step='src']")
    expect(item).to_have_attribute("data-breaking", "true")
    expect(item.locator(".breaking")).to_contain_text(
        "column 'tag' of 'base' is removed or renamed; read by consumer/uses"
    )
    screens.shot(page, "pipeline-breaking-diff")


def test_clicking_a_column_highlights_the_columns_it_comes_from(
    page: Page, org: Org, screens: Screens
) -> None:
    steps = [
        make_step("src", "SELECT range AS n, range * 2 AS m FROM range(3)", [], ["base"]),
        make_step("mid", "SELECT n + 1 AS k, 'x' AS label FROM base", ["base"], ["mid_out"]),
        make_step("top", "SELECT k * 10 AS big FROM mid_out", ["mid_out"], ["top_out"]),
    ]
    org.post("/pipelines/", json={"name": "lineage", "steps": steps})
    sign_in(page, org)
    page.get_by_role("link", name="lineage").click()
    for name in ("src", "mid", "top"):
        page.locator(f".step-config[data-step='{name}'] summary").click()
    page.locator("button.column[data-dataset='top_out'][data-column='big']").click()
    hit = page.locator("button.column.lineage-hit")
    expect(hit).to_have_count(3)
    assert sorted(
        hit.evaluate_all("els => els.map(e => e.dataset.dataset + '.' + e.dataset.column)")
    ) == [
        "base.n",
        "mid_out.k",
        "top_out.big",
    ]
    nodes = page.locator("#graph g.node.step.lineage-hit")
    expect(nodes).to_have_count(2)
    screens.shot(page, "pipeline-column-lineage")
