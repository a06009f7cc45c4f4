"""Run parameters over HTTP: declared on a version, passed on POST …/runs/, bound as typed
values in the step's DuckDB (never spliced), stored on the run and reused by a retry."""

from __future__ import annotations

import datetime as dt
from typing import Any

from headrace.domain.runs import RunStatus, StepStatus
from headrace.runtime import Runtime
from headrace.settings import Settings
from tests.execution.support import dataset_rows, execute, get_run
from tests.factories import Api, make_step, move_run_to

PARAMETERS = [
    {"name": "who", "type": "string"},
    {"name": "n", "type": "integer", "default": 3},
    {"name": "day", "type": "date", "default": "2024-02-29"},
    {"name": "flag", "type": "boolean", "default": False},
]


def _pipeline(api: Api, query: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    body = {
        "name": "params",
        "steps": [make_step("s", query, [], ["out"])],
        "parameters": parameters,
    }
    r = api.post("/pipelines/", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_values_are_bound_typed_and_stored_on_the_run(
    api: Api, runtime: Runtime, settings: Settings
) -> None:
    query = (
        "SELECT $who AS who, $n + 1 AS next, $day + 1 AS tomorrow, NOT $flag AS unflagged, "
        "typeof($n) AS n_type, $scheduled_for AS scheduled_for"
    )
    pipeline = _pipeline(api, query, PARAMETERS)
    assert pipeline["current_version"]["parameters"] == PARAMETERS
    who = "x'); DROP TABLE out; --"
    r = api.post(f"/pipelines/{pipeline['id']}/runs/", json={"parameters": {"who": who}})
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["parameters"] == {"who": who, "n": 3, "day": "2024-02-29", "flag": False}
    assert run["trigger"] == {"type": "manual"}
    assert str(execute(runtime, run["id"])) == "Succeeded"
    [row] = dataset_rows(runtime.db, settings, api.org_id, "out")
    assert row == (who, 4, dt.date(2024, 3, 1), True, "INTEGER", None)


def test_a_script_binds_each_statements_own_parameters(
    api: Api, runtime: Runtime, settings: Settings
) -> None:
    script = "CREATE TABLE a AS SELECT $n AS n; CREATE TABLE b AS SELECT $who AS who, 1 AS one"
    body = {
        "name": "script-params",
        "steps": [make_step("s", script, [], ["a", "b"])],
        "parameters": PARAMETERS,
    }
    pipeline = api.post("/pipelines/", json=body).json()
    r = api.post(f"/pipelines/{pipeline['id']}/runs/", json={"parameters": {"who": "me"}})
    assert str(execute(runtime, r.json()["id"])) == "Succeeded"
    assert dataset_rows(runtime.db, settings, api.org_id, "a") == [(3,)]
    assert dataset_rows(runtime.db, settings, api.org_id, "b") == [("me", 1)]


def test_every_bad_parameter_is_a_422_listing_all(api: Api) -> None:
    pipeline = _pipeline(api, "SELECT $who AS who, $n AS n", PARAMETERS)
    r = api.post(
        f"/pipelines/{pipeline['id']}/runs/",
        json={"parameters": {"n": "three", "day": "yesterday", "flag": "no", "extra": 1}},
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert {(tuple(e["loc"]), e["type"]) for e in body["errors"]} == {
        (("body", "parameters", "n"), "parameter.bad_value"),
        (("body", "parameters", "day"), "parameter.bad_value"),
        (("body", "parameters", "flag"), "parameter.bad_value"),
        (("body", "parameters", "extra"), "parameter.unknown"),
        (("body", "parameters", "who"), "missing"),
    }


def test_a_version_with_bad_declarations_or_undeclared_uses_is_refused(api: Api) -> None:
    body = {
        "name": "bad-params",
        "steps": [make_step("s", "SELECT $nope AS x", [], ["out"])],
        "parameters": [
            {"name": "a", "type": "decimal"},
            {"name": "b", "type": "date", "default": 1},
        ],
    }
    r = api.post("/pipelines/", json=body)
    assert r.status_code == 422, r.text
    assert {(tuple(e["loc"]), e["type"]) for e in r.json()["errors"]} == {
        (("parameters", 0, "type"), "parameter.bad_type"),
        (("parameters", 1, "default"), "parameter.bad_value"),
        (("steps", "s", "config", "query"), "sql.undeclared_parameter"),
    }


def test_a_retry_reuses_the_runs_parameters(api: Api, runtime: Runtime) -> None:
    pipeline = _pipeline(api, "SELECT $who AS who", PARAMETERS)
    run = api.post(
        f"/pipelines/{pipeline['id']}/runs/", json={"parameters": {"who": "w", "n": 7}}
    ).json()
    move_run_to(runtime.db, run["id"], RunStatus.FAILED, {"s": StepStatus.FAILED})
    r = api.post(f"/pipelines/{pipeline['id']}/runs/{run['id']}/retry/")
    assert r.status_code == 201, r.text
    retried = get_run(api, pipeline["id"], r.json()["id"])
    assert retried["parameters"] == run["parameters"]
    assert retried["trigger"] == {"type": "retry", "parent_run_id": run["id"]}
