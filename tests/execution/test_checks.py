"""Checks that gate a step's output (issue 16 item 1), on both metadata stores: every check
type passing and failing, a failed ``error`` check committing nothing (the Delta log
included) and omitting what is downstream, ``warn`` recording only, a check's broken SQL
quoted in the user's terms, and a retry after the data is fixed running the checks again."""

from __future__ import annotations

import os
from typing import Any

from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.settings import Settings
from tests.execution.support import (
    current_version,
    read_rows,
    run_pipeline,
    steps,
    table_path,
    write_dataset,
)
from tests.factories import Api, make_pipeline, make_run, make_step

# Five rows: id 1..5, colour red/green/blue/red/NULL, amount 10, 20, -5, 40, NULL
ROWS = (
    "SELECT * FROM (VALUES (1, 'red', 10), (2, 'green', 20), (3, 'blue', -5), "
    "(4, 'red', 40), (5, NULL, NULL)) AS t(id, colour, amount)"
)


def checked(name: str, *checks: dict[str, Any], query: str = ROWS) -> dict[str, Any]:
    step = make_step(name, query, [], [f"{name}_out"])
    step["config"]["checks"] = list(checks)
    return step


PASSING = {
    "not_null": {"type": "not_null", "column": "id"},
    "unique": {"type": "unique", "columns": ["id", "colour"]},
    "accepted_values": {
        "type": "accepted_values",
        "column": "colour",
        "values": ["red", "green", "blue"],
    },
    "row_count": {"type": "row_count", "min": 1, "max": 5},
    "expression": {"type": "expression", "expression": "amount > -10"},
    "sql": {"type": "sql", "query": "SELECT * FROM checked_sql_out WHERE id > 5"},
}
# each with how many rows violate it and the first of its sample
FAILING = {
    "not_null": ({"type": "not_null", "column": "colour"}, 1, {"id": 5}),
    "unique": ({"type": "unique", "column": "colour"}, 1, {"colour": "red", "duplicates": 2}),
    "accepted_values": (
        {"type": "accepted_values", "column": "colour", "values": ["red", "green"]},
        1,
        {"id": 3, "colour": "blue"},
    ),
    "row_count": ({"type": "row_count", "min": 10}, 1, {"row_count": 5}),
    "expression": ({"type": "expression", "expression": "amount > 0"}, 1, {"id": 3}),
    "sql": (
        {"type": "sql", "query": "SELECT id, amount FROM failed_sql_out WHERE amount >= 20"},
        2,
        {"id": 2, "amount": 20},
    ),
}


def test_every_check_type_passes_and_fails(api: Api, runtime: Runtime) -> None:
    """One run: a step per check type that passes (Succeeded, committed) and one that fails
    (Failed, nothing committed), each result with its violations and sample."""
    body = [checked(f"checked_{kind}", check) for kind, check in PASSING.items()]
    body += [checked(f"failed_{kind}", check) for kind, (check, _, _) in FAILING.items()]
    pipeline = make_pipeline(api, body)
    run = run_pipeline(api, runtime, pipeline["id"])
    assert run["status"] == "Failed"
    by_name = steps(run)
    for kind in PASSING:
        step = by_name[f"checked_{kind}"]
        assert step["status"] == "Succeeded", step
        [result] = step["checks"]
        assert result["status"] == "passed" and result["violations"] == 0, result
        assert result["sample"] == [] and result["type"] == kind
        assert step["output_versions"] == {f"checked_{kind}_out": 0}
    for kind, (_, violations, first) in FAILING.items():
        step = by_name[f"failed_{kind}"]
        assert step["status"] == "Failed", step
        assert step["output_versions"] == {}
        [result] = step["checks"]
        assert result["status"] == "failed", result
        assert result["violations"] == violations, result
        assert result["dataset"] == f"failed_{kind}_out" and result["severity"] == "error"
        sample = sorted(result["sample"], key=repr)
        assert {k: sample[0][k] for k in first} == first, sample
        assert result["name"] in step["error"] and "nothing was committed" in step["error"]


def _log_entries(table: str) -> list[str]:
    return sorted(os.listdir(os.path.join(table, "_delta_log")))


def test_a_failed_check_commits_nothing_and_omits_downstream(
    api: Api, runtime: Runtime, db: Database, settings: Settings
) -> None:
    write_dataset(api, runtime, "gated", "SELECT 1 AS id")
    table = table_path(db, settings, api.org_id, "gated")
    log_before, rows_before = _log_entries(table), read_rows(table, 0)
    files_before = sorted(os.listdir(table))
    twice = "SELECT 7 AS id UNION ALL SELECT 7"
    gate = checked("gate", {"type": "unique", "column": "id"}, query=twice)
    gate["config"]["output_datasets"] = ["gated"]
    below = make_step("below", "SELECT * FROM gated", ["gated"], ["below_out"])
    beside = make_step("beside", "SELECT 1 AS x", [], ["beside_out"])
    run = run_pipeline(api, runtime, make_pipeline(api, [gate, below, beside])["id"])
    by_name = steps(run)
    assert run["status"] == "Failed"
    assert by_name["gate"]["status"] == "Failed"
    assert by_name["below"]["status"] == "Omitted"
    assert by_name["beside"]["status"] == "Succeeded"
    assert by_name["gate"]["checks"][0]["sample"] == [{"id": 7, "duplicates": 2}]
    assert current_version(db, api.org_id, "gated") == 0
    assert _log_entries(table) == log_before
    assert read_rows(table, 0) == rows_before
    # nothing the step wrote is left beside the table's own files
    assert sorted(os.listdir(table)) == files_before


def test_a_warn_check_is_recorded_and_does_not_block(
    api: Api, runtime: Runtime, db: Database
) -> None:
    warned = checked(
        "warned",
        {"type": "not_null", "column": "amount", "severity": "warn"},
        {"name": "few", "type": "row_count", "max": 2, "severity": "warn"},
    )
    below = make_step("below", "SELECT count(*) AS n FROM warned_out", ["warned_out"], ["b_out"])
    run = run_pipeline(api, runtime, make_pipeline(api, [warned, below])["id"])
    assert run["status"] == "Succeeded", run
    by_name = steps(run)
    results = {c["name"]: c for c in by_name["warned"]["checks"]}
    assert results["not_null_amount"]["status"] == "warned"
    assert results["not_null_amount"]["sample"] == [{"id": 5, "colour": None, "amount": None}]
    assert results["few"]["status"] == "warned" and results["few"]["violations"] == 1
    assert by_name["below"]["status"] == "Succeeded"
    assert current_version(db, api.org_id, "warned_out") == 0
    logs = api.get(f"/pipelines/{run['pipeline_id']}/runs/{run['id']}/steps/warned/logs/").text
    assert "check 'few' on warned_out warned: 1 violating row" in logs


def test_a_check_whose_sql_fails_blocks_and_quotes_the_users_sql(
    api: Api, runtime: Runtime, settings: Settings
) -> None:
    step = checked(
        "broken",
        {"type": "expression", "expression": "amout > 0"},
        {"type": "expression", "name": "soft", "expression": "colour + 1 > 0", "severity": "warn"},
    )
    run = run_pipeline(api, runtime, make_pipeline(api, [step])["id"])
    [bad, soft] = steps(run)["broken"]["checks"]
    assert steps(run)["broken"]["status"] == "Failed"
    assert bad["status"] == "error" and soft["status"] == "error"
    assert "amout" in bad["error"] and "LINE 1: amout > 0" in bad["error"], bad["error"]
    assert "^" in bad["error"]
    for text in (bad["error"], soft["error"], steps(run)["broken"]["error"]):
        assert "__headrace" not in text and settings.effective_warehouse not in text
        assert "SELECT * FROM" not in text  # headrace's own wrapping is never quoted


def test_a_retry_after_the_data_is_fixed_runs_the_checks_again(
    api: Api, runtime: Runtime, db: Database
) -> None:
    write_dataset(api, runtime, "raw_ids", "SELECT 1 AS id UNION ALL SELECT NULL")
    gate = make_step("clean", "SELECT id FROM raw_ids", ["raw_ids"], ["clean_ids"])
    gate["config"]["checks"] = [{"type": "not_null", "column": "id"}]
    pipeline = make_pipeline(api, [gate])
    first = run_pipeline(api, runtime, pipeline["id"])
    assert steps(first)["clean"]["status"] == "Failed"
    write_dataset(api, runtime, "raw_ids", "SELECT 1 AS id UNION ALL SELECT 2")
    r = api.post(f"/pipelines/{pipeline['id']}/runs/{first['id']}/retry/")
    assert r.status_code == 201, r.text
    from tests.execution.support import execute, get_run

    execute(runtime, r.json()["id"])
    second = get_run(api, pipeline["id"], r.json()["id"])
    assert second["status"] == "Succeeded", second
    [result] = steps(second)["clean"]["checks"]
    assert result["status"] == "passed"
    assert current_version(db, api.org_id, "clean_ids") == 0


def test_a_step_without_checks_records_none(api: Api, runtime: Runtime) -> None:
    run = make_run(api, make_pipeline(api, [make_step("plain", "SELECT 1 AS x")])["id"])
    assert run["run_steps"][0]["checks"] == []
