"""Step reuse and plans: what is reused, what breaks reuse, and a plan is the run it plans."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from headrace.caching import Cache
from headrace.domain.fingerprint import Recipe, recipe
from headrace.domain.pipeline import step_from_dict
from headrace.domain.records import VersionRecord
from headrace.persistence.db import Database, RecipeCache
from headrace.persistence.repositories.pipelines import versions_by_id
from headrace.runtime import Runtime
from headrace.services.clock import utcnow
from headrace.services.planning import recipe_of
from headrace.settings import Settings
from tests.execution.support import (
    current_version,
    dataset_rows,
    recorded_versions,
    run_pipeline,
    steps,
    write_dataset,
)
from tests.factories import Api, generated_steps, make_org, make_pipeline, make_step

pytestmark = pytest.mark.usefixtures("runtime")


def _plan(api: Api, pipeline_id: str, **body: Any) -> dict[str, Any]:
    r = api.post(f"/pipelines/{pipeline_id}/runs/plan/", json=body)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def _actions(plan: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["action"] for s in plan["steps"]}


def _new_version(api: Api, pipeline_id: str, steps_: list[dict[str, Any]]) -> None:
    r = api.post(f"/pipelines/{pipeline_id}/versions/", json={"steps": steps_})
    assert r.status_code == 201, r.text


def _with_query(name: str, query: str) -> list[dict[str, Any]]:
    changed = generated_steps()
    for step in changed:
        if step["name"] == name:
            step["config"]["query"] = query
    return changed


def test_a_second_run_reuses_every_step_and_writes_nothing(
    runtime: Runtime, api: Api, db: Database
) -> None:
    pipeline = make_pipeline(api, generated_steps())
    first = run_pipeline(api, runtime, pipeline["id"])
    assert first["status"] == "Succeeded"
    second = run_pipeline(api, runtime, pipeline["id"])
    assert second["status"] == "Succeeded", second
    for name, step in steps(second).items():
        assert step["status"] == "Skipped"
        assert step["reused_from"] == {"run_id": first["id"], "step_name": name}
        assert step["output_versions"] == steps(first)[name]["output_versions"]
        assert step["saved_seconds"] is not None
    assert steps(second)["total"]["input_versions"] == {"doubled": 0}
    assert recorded_versions(db, api.org_id, "total") == [0]
    # the manifest holds no task for a reused step
    templates = second["argo_manifest"]["spec"]["templates"]
    assert [t["dag"]["tasks"] for t in templates if "dag" in t] == [[]]


def test_reuse_spans_pipelines_of_an_organisation_but_never_organisations(
    runtime: Runtime, api: Api, client: Any, db: Database
) -> None:
    first = run_pipeline(api, runtime, make_pipeline(api, generated_steps())["id"])
    renamed = generated_steps()
    renamed[1]["name"] = "twice"  # the step's name is not part of what it computes
    other = make_pipeline(api, renamed)
    run = run_pipeline(api, runtime, other["id"])
    assert steps(run)["twice"]["reused_from"] == {"run_id": first["id"], "step_name": "double"}
    stranger = make_org(client, db)
    theirs = run_pipeline(stranger, runtime, make_pipeline(stranger, generated_steps())["id"])
    assert {s["status"] for s in theirs["run_steps"]} == {"Succeeded"}
    assert all(s["reused_from"] is None for s in theirs["run_steps"])


def test_a_whitespace_or_comment_change_is_reused_a_literal_change_is_not(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    pipeline = make_pipeline(api, generated_steps())
    run_pipeline(api, runtime, pipeline["id"])
    reformatted = _with_query("double", "select n*2 as n -- twice\nFROM numbers")
    _new_version(api, pipeline["id"], reformatted)
    assert _actions(_plan(api, pipeline["id"])) == {
        "gen": "reuse",
        "double": "reuse",
        "total": "reuse",
    }
    _new_version(api, pipeline["id"], _with_query("double", "SELECT n * 3 AS n FROM numbers"))
    plan = _plan(api, pipeline["id"])
    assert _actions(plan) == {"gen": "reuse", "double": "run", "total": "run"}
    by_step = {s["name"]: s for s in plan["steps"]}
    assert by_step["double"]["reads"] == {"numbers": 0}
    assert by_step["total"]["reads"] == {"doubled": "step double"}
    assert by_step["total"]["reason"] == "it reads doubled, which step double writes in this run"
    run = run_pipeline(api, runtime, pipeline["id"])
    assert [steps(run)[n]["status"] for n in ("gen", "double", "total")] == [
        "Skipped",
        "Succeeded",
        "Succeeded",
    ]
    assert dataset_rows(db, settings, api.org_id, "total") == [(135,)]


def test_a_new_version_of_an_input_breaks_reuse(runtime: Runtime, api: Api, db: Database) -> None:
    steps_ = generated_steps()[1:]  # double reads numbers, which nothing here writes
    write_dataset(api, runtime, "numbers", "SELECT range AS n FROM range(4)")
    pipeline = make_pipeline(api, steps_)
    run_pipeline(api, runtime, pipeline["id"])
    assert _actions(_plan(api, pipeline["id"])) == {"double": "reuse", "total": "reuse"}
    write_dataset(api, runtime, "numbers", "SELECT range AS n FROM range(4)")  # same rows
    plan = _plan(api, pipeline["id"])
    assert _actions(plan) == {"double": "run", "total": "run"}
    assert plan["steps"][0]["reads"] == {"numbers": 1}


def test_a_dataset_overwritten_since_breaks_reuse(runtime: Runtime, api: Api, db: Database) -> None:
    pipeline = make_pipeline(api, generated_steps())
    run_pipeline(api, runtime, pipeline["id"])
    write_dataset(api, runtime, "doubled", "SELECT 1 AS n")  # another pipeline's run
    plan = _plan(api, pipeline["id"])
    assert _actions(plan) == {"gen": "reuse", "double": "run", "total": "run"}
    assert plan["steps"][1]["reason"] == (
        "its earlier result was overwritten since: doubled (now version 1, it wrote 0)"
    )
    run = run_pipeline(api, runtime, pipeline["id"])
    assert steps(run)["double"]["output_versions"] == {"doubled": 2}
    assert current_version(db, api.org_id, "total") == 1


@pytest.mark.parametrize(
    "query",
    [
        "SELECT range AS n, random() AS r FROM range(3)",
        "SELECT range AS n, now() AS at FROM range(3)",
    ],
)
def test_non_deterministic_sql_is_never_reused(runtime: Runtime, api: Api, query: str) -> None:
    pipeline = make_pipeline(api, [make_step("gen", query, [], ["numbers"])])
    run_pipeline(api, runtime, pipeline["id"])
    plan = _plan(api, pipeline["id"])
    assert _actions(plan) == {"gen": "run"}
    assert plan["steps"][0]["reason"].startswith("never reused: its SQL calls")
    run = run_pipeline(api, runtime, pipeline["id"])
    assert steps(run)["gen"]["status"] == "Succeeded"


def test_use_cache_false_on_the_run_and_cache_false_on_a_step_run_it(
    runtime: Runtime, api: Api
) -> None:
    pipeline = make_pipeline(api, generated_steps())
    run_pipeline(api, runtime, pipeline["id"])
    plan = _plan(api, pipeline["id"], use_cache=False)
    assert _actions(plan) == {"gen": "run", "double": "run", "total": "run"}
    assert plan["steps"][0]["reason"] == "use_cache: false on the run"
    uncached = generated_steps()
    uncached[1]["config"]["cache"] = False
    _new_version(api, pipeline["id"], uncached)
    assert _actions(_plan(api, pipeline["id"])) == {"gen": "reuse", "double": "run", "total": "run"}
    run = run_pipeline(api, runtime, pipeline["id"], use_cache=False)
    assert {s["status"] for s in run["run_steps"]} == {"Succeeded"}


def test_a_plan_equals_the_run_that_follows(runtime: Runtime, api: Api) -> None:
    pipeline = make_pipeline(api, generated_steps())
    run_pipeline(api, runtime, pipeline["id"])
    _new_version(api, pipeline["id"], _with_query("double", "SELECT n * 5 AS n FROM numbers"))
    plan = _plan(api, pipeline["id"], end_job_name="double")
    r = api.post(f"/pipelines/{pipeline['id']}/runs/", json={"end_job_name": "double"})
    assert r.status_code == 201, r.text
    run = r.json()
    status = {"run": "Pending", "reuse": "Skipped"}
    planned = {s["name"]: s for s in plan["steps"] if s["action"] != "skip"}
    assert {n: status[s["action"]] for n, s in planned.items()} == {
        s["name"]: s["status"] for s in run["run_steps"]
    }
    assert {n: s["reused_from"] for n, s in planned.items()} == {
        s["name"]: s["reused_from"] for s in run["run_steps"]
    }
    assert _actions(plan)["total"] == "skip"
    # the same manifest but for the run's own name and id
    planned_as = plan["argo_manifest"]["metadata"]
    made = _renamed(run["argo_manifest"], run["name"], planned_as["name"])
    planned_id = planned_as["labels"]["headrace.dev/run"]
    assert plan["argo_manifest"] == _renamed(made, run["id"], planned_id)


def _renamed(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {k: _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    if isinstance(value, str):
        return value.replace(old, new)
    return value


def test_the_parameter_values_a_step_uses_decide_its_reuse(runtime: Runtime, api: Api) -> None:
    declared = [
        {"name": "day", "type": "date", "default": "2024-02-29"},
        {"name": "label", "type": "string", "default": "a"},
    ]
    body = {
        "name": "dated",
        "steps": [make_step("d", "SELECT $day + range::INTEGER AS d FROM range(3)", [], ["days"])],
        "parameters": declared,
    }
    r = api.post("/pipelines/", json=body)
    assert r.status_code == 201, r.text
    pipeline = r.json()
    first = run_pipeline(api, runtime, pipeline["id"])
    assert steps(first)["d"]["status"] == "Succeeded", steps(first)["d"]["error"]
    # a parameter the SQL does not use changes nothing; the one it uses does
    unused = {"parameters": {"label": "b"}}
    assert _actions(_plan(api, pipeline["id"], **unused)) == {"d": "reuse"}
    again = run_pipeline(api, runtime, pipeline["id"], **unused)
    assert steps(again)["d"]["reused_from"] == {"run_id": first["id"], "step_name": "d"}
    other_day = {"parameters": {"day": "2024-03-01"}}
    assert _actions(_plan(api, pipeline["id"], **other_day)) == {"d": "run"}


def test_a_plan_lists_what_the_run_would_be_refused_for(api: Api) -> None:
    pipeline = make_pipeline(api, generated_steps()[1:])  # reads numbers, which has no version
    plan = _plan(api, pipeline["id"])
    assert _actions(plan) == {"double": "run", "total": "run"}
    assert plan["steps"][0]["reads"] == {"numbers": None}
    assert plan["steps"][0]["reason"] == "input numbers has no version yet"
    refused = api.post(f"/pipelines/{pipeline['id']}/runs/", json={})
    assert refused.status_code == 422
    assert (
        plan["problems"]
        == refused.json()["errors"]
        == [
            {
                "loc": ["steps", "double", "config", "input_datasets"],
                "msg": "dataset 'numbers' has no version yet and no selected step writes it",
                "type": "run.missing_input",
            }
        ]
    )
    unknown = api.post(f"/pipelines/{pipeline['id']}/runs/plan/", json={"start_job_name": "x"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "start_job_name"]


def _version(**recipes: Recipe) -> VersionRecord:
    return VersionRecord(uuid.uuid4(), uuid.uuid4(), 1, utcnow(), [], recipes=recipes)


def test_a_steps_recipe_is_made_once_per_version_and_step() -> None:
    """Planning asks for each step's recipe on every run: the second time it is the one kept,
    not a new parse of the SQL; another version's step of the same name gets its own; a
    recipe kept with the version is used as it is."""
    kept: RecipeCache = Cache(10)
    version, other = _version(), _version()
    step = step_from_dict("s", make_step("s", "SELECT 1 AS n", outputs=["out"])["config"])
    changed = step_from_dict("s", make_step("s", "SELECT 2 AS n", outputs=["out"])["config"])
    first = recipe_of(kept, version, step)
    assert recipe_of(kept, version, step) is first
    assert recipe_of(kept, other, changed).key != first.key
    assert len(kept) == 2
    stored = Recipe("a key kept with the version")
    assert recipe_of(kept, _version(s=stored), step) is stored
    assert len(kept) == 2


def test_the_first_run_keeps_its_recipes_with_the_version(
    api: Api, db: Database, runtime: Runtime
) -> None:
    """Another process (a fresh store object, its caches empty) reads them with the version
    rather than parsing the SQL again; a plan makes them but keeps nothing."""
    pipeline = make_pipeline(api)

    def kept_recipes() -> dict[str, Recipe]:
        fresh = Database(db.url)
        try:
            with fresh.unit_of_work(write=False) as conn:
                version_id = uuid.UUID(pipeline["current_version"]["id"])
                return versions_by_id(conn, [version_id], fresh.versions)[version_id].recipes
        finally:
            fresh.dispose()

    _plan(api, pipeline["id"])
    assert kept_recipes() == {}
    assert run_pipeline(api, runtime, pipeline["id"])["status"] == "Succeeded"
    kept = kept_recipes()
    steps_ = {s["name"]: s["config"] for s in pipeline["current_version"]["steps"]}
    assert sorted(kept) == sorted(steps_)
    for name, made in kept.items():
        assert made == recipe(step_from_dict(name, steps_[name]).config)
