"""Runs: creation (whole and partial), the manifest they carry, reading and listing them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from headrace.persistence.db import Database
from headrace.settings import Settings
from tests.factories import (
    Api,
    add_dataset_version,
    diamond_steps,
    generated_steps,
    make_pipeline,
    make_run,
    make_runs,
    make_step,
)


def _tasks(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = run["argo_manifest"]["spec"]
    dag = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])["dag"]
    # A pod finds its step by the DAG node's name, ``<workflow>.<task>``: the run step's run_name.
    step_of_node = {s["run_name"]: s["name"] for s in run["run_steps"]}
    return {step_of_node[f"{run['name']}.{t['name']}"]: t for t in dag["tasks"]}


def _depends(run: dict[str, Any]) -> dict[str, set[str]]:
    """Each step's upstream steps, read back from the DAG tasks' ``depends``."""
    tasks = _tasks(run)
    step_of = {t["name"]: step for step, t in tasks.items()}
    return {
        step: {step_of[n] for n in re.findall(r"[a-z0-9-]+", t.get("depends", ""))}
        for step, t in tasks.items()
    }


def test_run_is_pending_with_one_step_per_step(api: Api) -> None:
    p = make_pipeline(api)
    run = make_run(api, p["id"])
    assert run["status"] == "Pending"
    assert run["finished_at"] is None
    assert run["pipeline_config_version_id"] == p["current_version"]["id"]
    assert run["pipeline_version"] == p["current_version"]
    assert [(s["name"], s["status"]) for s in run["run_steps"]] == [
        ("gen", "Pending"),
        ("double", "Pending"),
        ("total", "Pending"),
    ]
    assert all(s["started_at"] is None and s["finished_at"] is None for s in run["run_steps"])
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", run["name"])
    assert len({s["run_name"] for s in run["run_steps"]}) == 3
    assert api.get(f"/pipelines/{p['id']}/runs/{run['id']}/").json() == run


def test_manifest_is_one_shared_template_without_sql(api: Api) -> None:
    steps = diamond_steps()
    p = make_pipeline(api, steps)
    run = make_run(api, p["id"])
    manifest = run["argo_manifest"]
    assert manifest["apiVersion"] == "argoproj.io/v1alpha1"
    assert manifest["kind"] == "Workflow"
    assert manifest["metadata"]["name"] == run["name"]
    assert _depends(run) == {
        "src": set(),
        "left": {"src"},
        "right": {"src"},
        "join": {"left", "right"},
    }
    tasks = _tasks(run)
    templates = {t["template"] for t in tasks.values()}
    assert len(templates) == 1
    (shared,) = [t for t in manifest["spec"]["templates"] if t["name"] in templates]
    container = shared["container"]
    command = " ".join(container["command"] + container["args"])
    assert command.startswith("headrace step exec")
    params = {p["name"]: p["value"] for p in manifest["spec"]["arguments"]["parameters"]}
    assert run["id"] in params.values()
    assert "{{workflow.parameters." in command
    assert "--node {{node.name}}" in command
    text = str(manifest)
    for step in steps:
        assert step["config"]["query"] not in text
    assert "SELECT" not in text.upper()
    # every run step is the node of one DAG task
    assert sorted(tasks) == sorted(s["name"] for s in run["run_steps"])


def test_partial_runs_select_between_start_and_end(api: Api, db: Database) -> None:
    add_dataset_version(db, api.org_id, "base")
    add_dataset_version(db, api.org_id, "evens")
    add_dataset_version(db, api.org_id, "odds")
    p = make_pipeline(api, diamond_steps())
    cases: list[tuple[dict[str, str], list[str]]] = [
        ({"start_job_name": "left"}, ["left", "join"]),
        ({"end_job_name": "left"}, ["src", "left"]),
        ({"start_job_name": "src", "end_job_name": "join"}, ["src", "left", "right", "join"]),
        ({"start_job_name": "src", "end_job_name": "right"}, ["src", "right"]),
        ({"start_job_name": "right", "end_job_name": "right"}, ["right"]),
        ({"start_job_name": "join"}, ["join"]),
    ]
    for body, expected in cases:
        run = make_run(api, p["id"], **body)
        assert [s["name"] for s in run["run_steps"]] == expected, body
        assert sorted(_tasks(run)) == sorted(expected), body
        assert run["start_job_name"] == body.get("start_job_name")
        assert run["end_job_name"] == body.get("end_job_name")
    partial = make_run(api, p["id"], start_job_name="left")
    assert _depends(partial) == {"left": set(), "join": {"left"}}


def test_partial_run_needs_a_version_of_inputs_it_does_not_write(api: Api, db: Database) -> None:
    p = make_pipeline(api, diamond_steps())
    r = api.post(f"/pipelines/{p['id']}/runs/", json={"start_job_name": "join"})
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert {(tuple(e["loc"]), e["type"]) for e in errors} == {
        (("steps", "join", "config", "input_datasets"), "run.missing_input")
    }
    assert {m for e in errors for m in ("evens", "odds") if repr(m) in e["msg"]} == {
        "evens",
        "odds",
    }
    assert api.get(f"/pipelines/{p['id']}/runs/").json() == []
    add_dataset_version(db, api.org_id, "evens")
    r = api.post(f"/pipelines/{p['id']}/runs/", json={"start_job_name": "join"})
    assert r.status_code == 422
    assert len(r.json()["errors"]) == 1
    assert "'odds'" in r.json()["errors"][0]["msg"]
    add_dataset_version(db, api.org_id, "odds")
    assert make_run(api, p["id"], start_job_name="join")["run_steps"][0]["name"] == "join"


def test_inputs_of_another_organisation_do_not_count(api: Api, db: Database, client: Any) -> None:
    from tests.factories import make_org

    other = make_org(client, db)
    add_dataset_version(db, other.org_id, "numbers")
    p = make_pipeline(api)
    r = api.post(f"/pipelines/{p['id']}/runs/", json={"start_job_name": "double"})
    assert r.status_code == 422


def test_whole_run_needs_existing_external_inputs(api: Api, db: Database) -> None:
    steps = [make_step("read", "SELECT * FROM upload", ["upload"], ["copy"])]
    p = make_pipeline(api, steps)
    r = api.post(f"/pipelines/{p['id']}/runs/", json={})
    assert r.status_code == 422
    assert r.json()["errors"][0]["type"] == "run.missing_input"
    add_dataset_version(db, api.org_id, "upload")
    assert make_run(api, p["id"])["status"] == "Pending"


def test_bad_selection_is_422(api: Api) -> None:
    p = make_pipeline(api, diamond_steps())
    url = f"/pipelines/{p['id']}/runs/"
    cases: list[tuple[dict[str, str], set[tuple[tuple[str, ...], str]]]] = [
        ({"start_job_name": "nope"}, {(("body", "start_job_name"), "run.unknown_step")}),
        ({"end_job_name": "nope"}, {(("body", "end_job_name"), "run.unknown_step")}),
        (
            {"start_job_name": "x", "end_job_name": "y"},
            {
                (("body", "start_job_name"), "run.unknown_step"),
                (("body", "end_job_name"), "run.unknown_step"),
            },
        ),
        (
            {"start_job_name": "left", "end_job_name": "right"},
            {(("body", "end_job_name"), "run.empty_selection")},
        ),
        (
            {"start_job_name": "join", "end_job_name": "src"},
            {(("body", "end_job_name"), "run.empty_selection")},
        ),
    ]
    for body, expected in cases:
        r = api.post(url, json=body)
        assert r.status_code == 422, body
        assert {(tuple(e["loc"]), e["type"]) for e in r.json()["errors"]} == expected, body
    assert api.get(url).json() == []


def test_run_of_an_older_version(api: Api) -> None:
    p = make_pipeline(api)
    v1 = p["current_version"]["id"]
    api.post(f"/pipelines/{p['id']}/versions/", json={"steps": generated_steps()[:1]})
    old = make_run(api, p["id"], version_id=v1)
    assert old["pipeline_config_version_id"] == v1
    assert len(old["run_steps"]) == 3
    new = make_run(api, p["id"])
    assert new["pipeline_config_version_id"] != v1
    assert len(new["run_steps"]) == 1
    other = make_pipeline(api)
    r = api.post(f"/pipelines/{p['id']}/runs/", json={"version_id": other["current_version"]["id"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "version_id"]


def test_list_runs_newest_first_with_filters(api: Api) -> None:
    p = make_pipeline(api)
    v1 = p["current_version"]["id"]
    a = make_run(api, p["id"])
    b = make_run(api, p["id"])
    v2 = api.post(f"/pipelines/{p['id']}/versions/", json={"steps": generated_steps()[:1]})
    c = make_run(api, p["id"])
    api.post(f"/pipelines/{p['id']}/runs/{b['id']}/cancel/")
    url = f"/pipelines/{p['id']}/runs/"

    def ids(**params: Any) -> list[str]:
        r = api.get(url, params=params)
        assert r.status_code == 200, r.text
        return [run["id"] for run in r.json()]

    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids(version_id=v1) == [b["id"], a["id"]]
    assert ids(version_id=v2.json()["id"]) == [c["id"]]
    assert ids(version_id=str(uuid.uuid4())) == []
    assert ids(status="Cancelled") == [b["id"]]
    assert ids(status="Pending") == [c["id"], a["id"]]
    assert ids(status=["Pending", "Cancelled"]) == [c["id"], b["id"], a["id"]]
    assert ids(status="Succeeded") == []
    assert ids(status="Pending", version_id=v1) == [a["id"]]
    assert api.get(url, params={"status": "Done"}).status_code == 422
    assert api.get(url, params={"version_id": "x"}).status_code == 422


def test_limit_and_link_header(api: Api) -> None:
    p = make_pipeline(api)
    made = [make_run(api, p["id"])["id"] for _ in range(5)]
    url = f"/pipelines/{p['id']}/runs/"
    seen: list[str] = []
    r = api.get(url, params={"limit": 2, "status": "Pending"})
    pages = 0
    while True:
        assert r.status_code == 200
        pages += 1
        seen += [run["id"] for run in r.json()]
        link = r.headers.get("Link")
        if link is None:
            break
        m = re.fullmatch(r'<([^>]+)>; rel="next"', link)
        assert m, link
        assert "status=Pending" in m.group(1)
        assert "limit=2" in m.group(1)
        r = api.get(m.group(1))
    assert seen == list(reversed(made))
    assert pages == 3
    assert "Link" not in api.get(url).headers
    for bad in ({"limit": 0}, {"limit": 1001}, {"cursor": "garbage"}, {"limit": "x"}):
        assert api.get(url, params=bad).status_code == 422, bad
    assert len(api.get(url, params={"limit": 1000}).json()) == 5


def test_pagination_has_no_gaps_or_repeats_while_runs_are_added(api: Api) -> None:
    p = make_pipeline(api)
    existing = {make_run(api, p["id"])["id"] for _ in range(10)}
    url = f"/pipelines/{p['id']}/runs/"
    seen: list[str] = []
    added: set[str] = set()
    r = api.get(url, params={"limit": 3})
    while True:
        assert r.status_code == 200
        seen += [run["id"] for run in r.json()]
        added |= {make_run(api, p["id"])["id"] for _ in range(2)}
        link = r.headers.get("Link")
        if link is None:
            break
        r = api.get(link[1 : link.index(">")])
    assert len(seen) == len(set(seen))
    assert set(seen) == existing
    assert len(api.get(url, params={"limit": 1000}).json()) == len(existing) + len(added)


@contextmanager
def _count_queries(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # Authentication is not the listing's cost: a key's lookup is cached, and the cache
        # looks for revocations twice a second whatever the request (its BEGIN included).
        if "FROM api_keys" not in statement and statement != "BEGIN":
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def test_listing_runs_costs_a_fixed_number_of_queries(
    api: Api, db: Database, settings: Settings
) -> None:
    small = make_pipeline(api)
    big = make_pipeline(api)
    make_runs(api, db, settings, small["id"], 5)
    make_runs(api, db, settings, big["id"], 50)
    # runs of two versions in one page
    api.post(f"/pipelines/{big['id']}/versions/", json={"steps": generated_steps()[:2]})
    make_runs(api, db, settings, big["id"], 50)
    with _count_queries(db) as few:
        r = api.get(f"/pipelines/{small['id']}/runs/")
    assert len(r.json()) == 5
    with _count_queries(db) as many:
        r = api.get(f"/pipelines/{big['id']}/runs/")
    assert len(r.json()) == 100
    assert len({run["pipeline_config_version_id"] for run in r.json()}) == 2
    assert few
    assert len(many) == len(few), many
