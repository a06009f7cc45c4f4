"""Runs in the browser: start one and watch its steps turn green live, a partial run, a
failed step with its error and logs, retry, and the runs list with its filters."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, Route, expect

from tests.factories import generated_steps, make_step
from tests.ui.conftest import Org, Screens, go, sign_in


def test_start_a_run_and_watch_its_steps_turn_green(page: Page, org: Org, screens: Screens) -> None:
    pipeline = org.post("/pipelines/", json={"name": "chain", "steps": generated_steps()})
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if r.url.endswith("/events/") else None)
    # Record every status each step's node shows, in order.
    page.add_init_script(
        """window.statusLog = [];
        new MutationObserver((changes) => {
          for (const c of changes) {
            if (c.target.matches?.("g.node.step") && c.target.dataset.status) {
              window.statusLog.push([c.target.dataset.step, c.target.dataset.status]);
            }
          }
        }).observe(document, {subtree: true, attributeFilter: ["data-status"]});"""
    )
    sign_in(page, org)
    page.get_by_role("link", name="chain").click()
    page.get_by_role("button", name="Start run").click()

    expect(page).to_have_url(re.compile(rf"#/pipelines/{pipeline['id']}/runs/[0-9a-f-]+$"))
    graph = page.locator("#graph svg.dag")
    for name in ("gen", "double", "total"):
        expect(graph.locator(f"g.node.step[data-step='{name}']")).to_have_attribute(
            "data-status", "Succeeded"
        )
    expect(page.locator("#run-status")).to_have_attribute("data-status", "Succeeded")
    expect(page.locator("#live")).to_have_attribute("data-state", "ended")
    # The page learnt all that from the event stream, not from reloading: each node was
    # drawn not yet done, then turned green.
    assert streams, "the run page did not open the event stream"
    log = page.evaluate("window.statusLog")
    for name in ("gen", "double", "total"):
        shown = [status for step, status in log if step == name]
        assert shown[0] in ("Pending", "Running") and shown[-1] == "Succeeded", (name, shown)

    gen = page.locator("#run-steps tr[data-step='gen']")
    expect(gen).to_contain_text("10")  # rows written
    expect(page.locator("#run-steps tr[data-step='double']")).to_contain_text("numbers@v0")
    # Succeeded node colour comes from the stylesheet, not from inline style.
    fill = graph.locator("g.node.step[data-step='gen'] rect").evaluate(
        "el => getComputedStyle(el).fill"
    )
    assert fill == "rgb(220, 243, 229)"
    expect(page.get_by_role("button", name="Cancel")).to_be_disabled()
    expect(page.get_by_role("button", name="Retry")).to_be_disabled()
    screens.shot(page, "run-succeeded")

    graph.locator("g.node.step[data-step='double']").click()
    panel = page.locator("#step-panel")
    expect(panel).to_contain_text("Step double")
    expect(panel.locator("#step-logs")).to_contain_text("reads numbers@v0")
    expect(panel.locator("#step-logs")).to_contain_text("wrote doubled@v0")
    screens.shot(page, "run-step-logs")

    # A partial run from `double`: gen is skipped, and the last run shows in the list.
    page.get_by_role("link", name="chain").click()
    page.locator("#run-start").select_option("double")
    page.locator("#run-use-cache").uncheck()  # run them again, though nothing changed
    page.get_by_role("button", name="Start run").click()
    expect(graph.locator("g.node.step[data-step='total']")).to_have_attribute(
        "data-status", "Succeeded"
    )
    expect(page.locator("#run-steps tr[data-step='gen']")).to_have_count(0)
    expect(page.locator("#run-steps tr[data-step='double']")).to_contain_text("numbers@v0")
    expect(page.locator(".run-summary")).to_contain_text("double → last")
    go(page, "Pipelines")
    expect(page.locator("tr[data-pipeline='chain'] .last-run")).to_contain_text("Succeeded")


def test_progress_counts_the_steps_as_their_events_arrive(page: Page, org: Org) -> None:
    """Each `step` event moves the run's Progress along with the step's own row."""
    org.post("/pipelines/", json={"name": "chain", "steps": generated_steps()})
    # After each change the page makes: the steps shown ended, and the Progress shown.
    page.add_init_script(
        """window.progressLog = [];
        new MutationObserver(() => {
          const shown = document.querySelector("#run-progress");
          if (!shown) return;
          const ended = [...document.querySelectorAll("#run-steps tr[data-step]")]
            .filter((tr) => ["Succeeded", "Failed"].includes(tr.dataset.status)).length;
          const rows = document.querySelectorAll("#run-steps tr[data-step]").length;
          window.progressLog.push([`${ended}/${rows}`, shown.textContent]);
        }).observe(document, {subtree: true, childList: true, characterData: true,
                              attributes: true});"""
    )
    sign_in(page, org)
    page.get_by_role("link", name="chain").click()
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#run-status")).to_have_attribute("data-status", "Succeeded")
    expect(page.locator("#run-progress")).to_have_text("3/3")
    log = page.evaluate("window.progressLog")
    assert ["1/3", "1/3"] in log or ["2/3", "2/3"] in log, log  # seen while the run went on
    assert all(steps == shown for steps, shown in log), log


def test_failed_step_shows_its_error_and_can_be_retried(
    page: Page, org: Org, screens: Screens
) -> None:
    failing = [
        make_step("gen", "SELECT range AS n FROM range(3)", [], ["numbers"]),
        make_step(
            "parse",
            "SELECT CAST('not a number' AS INTEGER) AS n FROM numbers",
            ["numbers"],
            ["parsed"],
        ),
        make_step("total", "SELECT sum(n) AS s FROM parsed", ["parsed"], ["total"]),
    ]
    pipeline = org.post("/pipelines/", json={"name": "breaks", "steps": failing})
    pid = pipeline["id"]
    sign_in(page, org)
    page.get_by_role("link", name="breaks").click()
    page.get_by_role("button", name="Start run").click()

    graph = page.locator("#graph svg.dag")
    expect(graph.locator("g.node.step[data-step='gen']")).to_have_attribute(
        "data-status", "Succeeded"
    )
    expect(graph.locator("g.node.step[data-step='parse']")).to_have_attribute(
        "data-status", "Failed"
    )
    expect(graph.locator("g.node.step[data-step='total']")).to_have_attribute(
        "data-status", "Omitted"
    )
    expect(page.locator("#run-status")).to_have_attribute("data-status", "Failed")
    expect(page.locator("#run-steps tr[data-step='parse'] .error-cell")).to_contain_text(
        "not a number"
    )
    # The failed step is selected by itself once the run has ended: its error is shown whole.
    page.reload()
    expect(page.locator("#step-error")).to_contain_text("not a number")
    expect(page.locator("#step-panel")).to_contain_text("Step parse")
    expect(page.get_by_role("button", name="Retry")).to_be_enabled()
    screens.shot(page, "run-failed")
    first_url = page.url

    page.get_by_role("button", name="Retry").click()
    expect(page).not_to_have_url(first_url)
    expect(graph.locator("g.node.step[data-step='parse']")).to_have_attribute(
        "data-status", "Failed"
    )
    expect(graph.locator("g.node.step[data-step='gen']")).to_have_attribute(
        "data-status", "Skipped"
    )
    expect(page.locator(".run-summary")).to_contain_text("Retry of")

    # Fix the step in a new version and run that; then filter the runs list.
    fixed = [
        failing[0],
        make_step("parse", "SELECT n FROM numbers", ["numbers"], ["parsed"]),
        failing[2],
    ]
    org.post(f"/pipelines/{pid}/versions/", json={"steps": fixed})
    good = org.post(f"/pipelines/{pid}/runs/", json={})
    org.wait_run(pid, good["id"])
    page.goto(f"{org.url}/ui/#/pipelines/{pid}/runs")
    rows = page.locator("#runs tbody tr")
    expect(rows).to_have_count(3)
    screens.shot(page, "runs-list")
    page.locator("#filter-status").select_option("Failed")
    expect(rows).to_have_count(2)
    expect(page.locator("#runs tbody tr[data-status='Succeeded']")).to_have_count(0)
    page.locator("#filter-status").select_option("")
    page.locator("#filter-version").select_option(label="v2")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-status", "Succeeded")
    expect(rows.first).to_contain_text("v2")
    screens.shot(page, "runs-list-filtered")


def test_cancel_shows_the_apis_answer(page: Page, org: Org) -> None:
    """The page offers Cancel while it believes the run active; the API has the last word,
    and its refusal (the run has ended meanwhile) is shown as it was given."""
    pipeline = org.post("/pipelines/", json={"name": "quick", "steps": generated_steps()})
    pending = org.post(f"/pipelines/{pipeline['id']}/runs/", json={})
    org.wait_run(pipeline["id"], pending["id"])
    base = f"/pipelines/{pipeline['id']}/runs/{pending['id']}/"
    sign_in(page, org)
    # The page sees the run as created; its stream is held back for a minute.
    page.route(re.compile(re.escape(base) + "$"), lambda route: route.fulfill(json=pending))
    page.route(
        re.compile(re.escape(base) + "events/$"),
        lambda route: route.fulfill(
            status=200, headers={"Content-Type": "text/event-stream"}, body="retry: 60000\n\n"
        ),
    )
    page.goto(f"{org.url}/ui/#{base.rstrip('/')}")
    expect(page.locator("#run-status")).to_have_attribute("data-status", "Pending")
    expect(page.locator("#live")).to_have_attribute("data-state", "reconnecting")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("alert")).to_contain_text("it cannot be cancelled")


def test_a_dropped_event_stream_resumes_with_last_event_id(page: Page, org: Org) -> None:
    """The page reads the stream with fetch(); when the connection drops it reconnects after
    the server's ``retry:`` delay and sends the last event id back, and the real server
    resumes from there. The first answers are stand-ins that show the run still Pending."""
    pipeline = org.post("/pipelines/", json={"name": "resume", "steps": generated_steps()})
    pending = org.post(f"/pipelines/{pipeline['id']}/runs/", json={})
    assert pending["status"] == "Pending"
    org.wait_run(pipeline["id"], pending["id"])
    base = f"/pipelines/{pipeline['id']}/runs/{pending['id']}/"
    seen: list[dict[str, str]] = []

    def first_read(route: Route) -> None:
        # The page's first GET of the run: as it was when it was created.
        if not seen and not route.request.url.endswith("/events/"):
            route.fulfill(json=pending)
        else:
            route.continue_()

    def events(route: Route) -> None:
        seen.append(route.request.headers)
        if len(seen) == 1:  # one event, then the connection closes without `end`
            data = json.dumps(pending)
            route.fulfill(
                status=200,
                headers={"Content-Type": "text/event-stream"},
                body=f"retry: 50\n\nevent: run\nid: 1\ndata: {data}\n\n",
            )
        else:
            route.continue_()

    sign_in(page, org)
    page.route(re.compile(re.escape(base) + "$"), first_read)
    page.route(re.compile(re.escape(base) + "events/$"), events)
    page.goto(f"{org.url}/ui/#{base.rstrip('/')}")
    for name in ("gen", "double", "total"):
        expect(page.locator(f"g.node.step[data-step='{name}']")).to_have_attribute(
            "data-status", "Succeeded"
        )
    expect(page.locator("#live")).to_have_attribute("data-state", "ended")
    assert len(seen) == 2
    assert "last-event-id" not in seen[0]
    assert seen[1]["last-event-id"] == "1"
    assert seen[1]["authorization"] == f"Bearer {org.key}"


def test_event_parser_handles_any_chunking(page: Page, org: Org) -> None:
    """The page's stream parser: events split anywhere across chunks, CRLF line ends,
    comments, multi-line data, and the last id and retry kept."""
    page.goto(f"{org.url}/ui/")
    stream = (
        'retry: 250\r\n\r\n: keepalive\r\nevent: run\r\nid: 1-PP\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'
    )
    stream += 'event: end\nid: 2-SS\ndata: {"status": "Succeeded"}\n\n'
    result = page.evaluate(
        """async (text) => {
            const { EventParser } = await import("./js/sse.js");
            const runs = [];
            for (const size of [1, 2, 3, 7, text.length]) {
                const got = [];
                const parser = new EventParser((ev) => got.push(ev));
                for (let i = 0; i < text.length; i += size) parser.push(text.slice(i, i + size));
                runs.push({ got, retry: parser.retry, lastId: parser.lastId });
            }
            return runs;
        }""",
        stream,
    )
    for run in result:
        assert run["got"] == [
            {"event": "run", "data": '{"a":\n1}', "id": "1-PP"},
            {"event": "end", "data": '{"status": "Succeeded"}', "id": "2-SS"},
        ]
        assert run["retry"] == 250
        assert run["lastId"] == "2-SS"


def test_a_failed_check_shows_a_badge_and_its_violating_rows(
    page: Page, org: Org, screens: Screens
) -> None:
    gate = make_step(
        "gate", "SELECT * FROM (VALUES (1, 'a'), (2, NULL), (3, NULL)) t(id, tag)", [], ["tags"]
    )
    gate["config"]["checks"] = [
        {"type": "not_null", "column": "tag"},
        {"name": "enough", "type": "row_count", "min": 1},
    ]
    soft = make_step("soft", "SELECT 1 AS x UNION ALL SELECT 1", [], ["ones"])
    soft["config"]["checks"] = [{"type": "unique", "column": "x", "severity": "warn"}]
    below = make_step("below", "SELECT count(*) AS n FROM tags", ["tags"], ["counted"])
    pipeline = org.post("/pipelines/", json={"name": "checked", "steps": [gate, soft, below]})
    run = org.post(f"/pipelines/{pipeline['id']}/runs/", json={})
    org.wait_run(pipeline["id"], run["id"])
    sign_in(page, org)
    page.goto(f"{org.url}/ui/#/pipelines/{pipeline['id']}/runs/{run['id']}")
    graph = page.locator("#graph svg.dag")
    expect(graph.locator("g.node.step[data-step='gate'] .check-badge")).to_have_attribute(
        "data-checks", "failed"
    )
    expect(graph.locator("g.node.step[data-step='gate'] .check-badge")).to_contain_text("1 failed")
    expect(graph.locator("g.node.step[data-step='soft'] .check-badge")).to_have_attribute(
        "data-checks", "warned"
    )
    expect(graph.locator("g.node.step[data-step='below'] .check-badge")).to_have_count(0)
    # the badge's colour is the stylesheet's, over the step's own
    fill = graph.locator("g.node.step[data-step='gate'] .check-badge rect").evaluate(
        "el => getComputedStyle(el).fill"
    )
    assert fill == "rgb(214, 69, 69)"
    expect(graph.locator("g.node.step[data-step='below']")).to_have_attribute(
        "data-status", "Omitted"
    )
    # The failed step is selected: its checks, and the rows that failed, in its panel.
    panel = page.locator("#step-panel")
    expect(panel.locator("#step-checks tr[data-check='not_null_tag']")).to_have_attribute(
        "data-result", "failed"
    )
    expect(panel.locator("#step-checks tr[data-check='enough']")).to_have_attribute(
        "data-result", "passed"
    )
    sample = panel.locator(".check-sample[data-check='not_null_tag'] tbody tr")
    expect(sample).to_have_count(2)
    expect(sample.first).to_contain_text("NULL")
    assert sorted(sample.locator("td:first-child").all_inner_texts()) == ["2", "3"]
    screens.shot(page, "run-check-failed")
    graph.locator("g.node.step[data-step='soft']").click()
    expect(panel.locator("#step-checks tr[data-check='unique_x']")).to_have_attribute(
        "data-result", "warned"
    )


def test_plan_before_start_reused_steps_and_retry_of_an_older_version(
    page: Page, org: Org, screens: Screens
) -> None:
    steps = [
        make_step("gen", "SELECT range AS n FROM range(3)", [], ["numbers"]),
        make_step("bad", "SELECT n::VARCHAR::DATE AS d FROM numbers", ["numbers"], ["bad_out"]),
    ]
    pipeline = org.post("/pipelines/", json={"name": "fixing", "steps": steps})
    pid = pipeline["id"]
    failed = org.wait_run(pid, org.post(f"/pipelines/{pid}/runs/", json={})["id"])
    assert failed["status"] == "Failed"
    steps[1]["config"]["query"] = "SELECT n + 1 AS d FROM numbers"
    org.post(f"/pipelines/{pid}/versions/", json={"steps": steps})

    sign_in(page, org)
    page.get_by_role("link", name="fixing").click()
    page.get_by_role("button", name="Plan").click()
    plan = page.locator("#run-plan")
    expect(plan.locator("tr[data-step='gen']")).to_have_attribute("data-action", "reuse")
    expect(plan.locator("tr[data-step='bad']")).to_have_attribute("data-action", "run")
    expect(page.locator(".plan-summary")).to_contain_text("1 to run, 1 reused, 0 skipped")
    screens.shot(page, "run-plan")
    page.locator("#run-use-cache").uncheck()
    page.get_by_role("button", name="Plan").click()
    expect(plan.locator("tr[data-step='gen']")).to_have_attribute("data-action", "run")
    expect(plan.locator("tr[data-step='gen']")).to_contain_text("use_cache: false on the run")

    # The failed run of version 1: Retry says which version it reruns and offers version 2.
    page.goto(f"{org.url}/ui/#/pipelines/{pid}/runs/{failed['id']}")
    note = page.locator("#retry-note")
    expect(note).to_contain_text("Retry reruns version v1.")
    expect(note).to_contain_text("The pipeline has a newer version, v2")
    page.get_by_role("button", name="Run the current version").click()
    expect(page).not_to_have_url(re.compile(failed["id"]))
    expect(page.locator("#run-status")).to_have_attribute("data-status", "Succeeded")
    gen = page.locator("#run-steps tr[data-step='gen']")
    expect(gen).to_have_attribute("data-status", "Skipped")
    expect(gen.locator(".reused")).to_have_attribute("data-reused-from", failed["id"])
    node = page.locator("#graph svg.dag g.node.step[data-step='gen']")
    expect(node).to_have_attribute("data-reused", "")
    expect(node).to_contain_text("Reused")
    expect(page.locator("#run-steps tr[data-step='bad']")).to_have_attribute(
        "data-status", "Succeeded"
    )
    expect(page.get_by_role("button", name="Run the current version")).to_be_hidden()
    gen.get_by_role("button", name="gen").click()
    expect(page.locator("#step-reused")).to_contain_text("reused from")
    screens.shot(page, "run-reused")
