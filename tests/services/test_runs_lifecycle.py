"""Failed, cancelled, timed-out, retried and partial runs: what each leaves behind."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

from headrace.execution.step import Interrupt, StepRunner
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.services.executors import open_worker
from headrace.services.step_store import DatabaseStepStore
from headrace.settings import Settings
from tests.execution.support import (
    current_version,
    dataset_rows,
    delta_version,
    execute,
    get_run,
    recorded_versions,
    run_pipeline,
    runtime_with,
    steps,
    table_path,
    wait_for,
    write_dataset,
)
from tests.factories import Api, generated_steps, make_pipeline, make_run, make_step

# Runs for minutes unless interrupted (DuckDB counts ~3e9 rows a second on 2 threads).
ENDLESS = "SELECT count(*) AS c FROM range(1000000000000)"


def _write_folders(table: str) -> set[str]:
    return {n for n in os.listdir(table) if n.startswith("w-")}


def _new_version(api: Api, pipeline_id: str, steps_: list[dict[str, object]]) -> None:
    r = api.post(f"/pipelines/{pipeline_id}/versions/", json={"steps": steps_})
    assert r.status_code == 201, r.text


def test_failed_step_leaves_its_outputs_unchanged(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    good = [
        make_step("gen", "SELECT range AS n FROM range(5)", [], ["numbers"]),
        make_step(
            "pair",
            "CREATE TABLE first AS SELECT n FROM numbers; "
            "CREATE TABLE second AS SELECT n * 10 AS m FROM numbers;",
            ["numbers"],
            ["first", "second"],
        ),
    ]
    pipeline = make_pipeline(api, good)
    assert run_pipeline(api, runtime, pipeline["id"])["status"] == "Succeeded"
    names = ("numbers", "first", "second")
    tables = {n: table_path(db, settings, api.org_id, n) for n in names}
    before = {
        n: (
            current_version(db, api.org_id, n),
            delta_version(tables[n]),
            dataset_rows(db, settings, api.org_id, n),
            _write_folders(tables[n]),
        )
        for n in names
    }
    # gen now fails half-way through writing its rows; pair's first output is fine but its
    # second fails, so neither of pair's outputs may be committed.
    bad = [
        make_step(
            "gen",
            "SELECT CASE WHEN i < 150000 THEN i ELSE error('boom at ' || i) END AS n "
            "FROM range(300000) t(i)",
            [],
            ["numbers"],
        ),
        make_step(
            "pair",
            "CREATE TABLE first AS SELECT range AS n FROM range(3); "
            "CREATE TABLE second AS SELECT CAST('x' || range AS INTEGER) AS m FROM range(3);",
            [],
            ["first", "second"],
        ),
    ]
    _new_version(api, pipeline["id"], bad)
    run = run_pipeline(api, runtime, pipeline["id"])
    assert run["status"] == "Failed"
    by_step = steps(run)
    assert by_step["gen"]["status"] == "Failed" and "boom at" in by_step["gen"]["error"]
    assert by_step["pair"]["status"] == "Failed"
    assert "Conversion Error" in by_step["pair"]["error"]
    for name in names:
        after = (
            current_version(db, api.org_id, name),
            delta_version(tables[name]),
            dataset_rows(db, settings, api.org_id, name),
            _write_folders(tables[name]),
        )
        assert after == before[name], name
    assert by_step["gen"]["output_versions"] == {} and by_step["pair"]["output_versions"] == {}


def test_cancel_stops_a_running_step_and_cancels_the_rest(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    pipeline = make_pipeline(
        api,
        [
            make_step("slow", ENDLESS, [], ["counted"]),
            make_step("after", "SELECT c + 1 AS c FROM counted", ["counted"], ["later"]),
        ],
    )
    run = make_run(api, pipeline["id"])
    worker = open_worker(runtime)
    assert worker.claim(only=uuid.UUID(run["id"])) is not None
    thread = threading.Thread(target=worker.execute, args=(uuid.UUID(run["id"]),), daemon=True)
    thread.start()
    wait_for(
        lambda: steps(get_run(api, pipeline["id"], run["id"]))["slow"]["status"] == "Running",
        what="the slow step to run",
    )
    # The metadata says Running from the start, not only at the first periodic publish.
    assert get_run(api, pipeline["id"], run["id"])["argo_metadata"]["phase"] == "Running"
    r = api.post(f"/pipelines/{pipeline['id']}/runs/{run['id']}/cancel/")
    assert r.status_code == 200, r.text
    thread.join(timeout=20)
    assert not thread.is_alive(), "the cancelled run did not stop"
    ended = get_run(api, pipeline["id"], run["id"])
    assert ended["status"] == "Cancelled"
    assert {n: s["status"] for n, s in steps(ended).items()} == {
        "slow": "Cancelled",
        "after": "Cancelled",
    }
    assert ended["finished_at"] is not None
    assert current_version(db, api.org_id, "counted") is None
    # an ended run cannot be cancelled again
    r = api.post(f"/pipelines/{pipeline['id']}/runs/{run['id']}/cancel/")
    assert r.status_code == 409, r.text
    assert r.json()["code"]


def test_cancel_of_a_pending_run_ends_it_before_any_worker_takes_it(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    pipeline = make_pipeline(api)
    run = make_run(api, pipeline["id"])
    r = api.post(f"/pipelines/{pipeline['id']}/runs/{run['id']}/cancel/")
    assert r.status_code == 200, r.text
    ended = get_run(api, pipeline["id"], run["id"])
    assert ended["status"] == "Cancelled"
    assert {s["status"] for s in ended["run_steps"]} == {"Cancelled"}
    assert open_worker(runtime).claim(only=uuid.UUID(run["id"])) is None
    assert api.post(f"/pipelines/{pipeline['id']}/runs/{run['id']}/cancel/").status_code == 409


def test_an_interrupt_sent_before_the_query_starts_is_not_lost(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    """A cancel that lands while the step is still opening its sandbox must stop it: DuckDB
    ignores ``interrupt()`` while no statement runs. The query is finite (a few seconds), so
    a lost interrupt shows as Succeeded rather than as a hang."""
    query = "SELECT count(*) AS c FROM range(20000000000)"
    pipeline = make_pipeline(api, [make_step("long", query, [], ["long_out"])])
    runner = StepRunner(DatabaseStepStore(db, runtime.graphs), runtime)
    for reason, status in (("cancelled", "Cancelled"), ("timed out after 9 s", "Failed")):
        run = make_run(api, pipeline["id"])  # a step that ended never runs again
        interrupt = Interrupt()
        interrupt.fire(reason)
        outcome = runner.run(uuid.UUID(run["id"]), "long", interrupt)
        assert outcome.status.value == status, outcome
    assert current_version(db, api.org_id, "long_out") is None


def test_step_timeout_fails_the_step_with_a_clear_message(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    quick = settings.model_copy(update={"step_timeout_seconds": 1})
    pipeline = make_pipeline(
        api,
        [
            make_step("slow", ENDLESS, [], ["counted"]),
            make_step("after", "SELECT c FROM counted", ["counted"], ["later"]),
        ],
    )
    with runtime_with(runtime, quick) as on_quick:
        run = run_pipeline(api, on_quick, pipeline["id"])
    assert run["status"] == "Failed"
    by_step = steps(run)
    assert by_step["slow"]["status"] == "Failed"
    assert "timed out after 1 s" in by_step["slow"]["error"]
    assert by_step["after"]["status"] == "Omitted"
    logs = api.get(f"/pipelines/{pipeline['id']}/runs/{run['id']}/steps/slow/logs/")
    assert "timed out" in logs.text
    assert current_version(db, api.org_id, "counted") is None


def test_retry_reads_the_versions_the_first_run_wrote(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    # B reads A's output and an outside dataset; the outside one makes B fail at first.
    write_dataset(api, runtime, "gate", "SELECT 'not a number' AS v")
    pipeline = make_pipeline(
        api,
        [
            make_step("a", "SELECT range AS n FROM range(5)", [], ["a_out"]),
            make_step(
                "b",
                "SELECT n + CAST(v AS INTEGER) AS m FROM a_out, gate",
                ["a_out", "gate"],
                ["b_out"],
            ),
        ],
    )
    first = run_pipeline(api, runtime, pipeline["id"])
    assert first["status"] == "Failed"
    assert steps(first)["a"]["status"] == "Succeeded"
    assert steps(first)["b"]["status"] == "Failed"
    assert steps(first)["b"]["input_versions"] == {"a_out": 0, "gate": 0}
    # Since then another run overwrote A's output, and the outside data was fixed.
    write_dataset(api, runtime, "a_out", "SELECT range + 100 AS n FROM range(3)")
    write_dataset(api, runtime, "gate", "SELECT '10' AS v")
    assert current_version(db, api.org_id, "a_out") == 1
    r = api.post(f"/pipelines/{pipeline['id']}/runs/{first['id']}/retry/")
    assert r.status_code == 201, r.text
    retry = r.json()
    assert retry["retry_of"] == first["id"]
    execute(runtime, retry["id"])
    retry = get_run(api, pipeline["id"], retry["id"])
    assert retry["status"] == "Succeeded", retry
    by_step = steps(retry)
    assert by_step["a"]["status"] == "Skipped"
    assert by_step["a"]["output_versions"] == {"a_out": 0}
    assert by_step["b"]["status"] == "Succeeded"
    assert by_step["b"]["input_versions"] == {"a_out": 0, "gate": 1}
    # B computed from A's version 0 (0..4), not from the current a_out (100..102)
    assert dataset_rows(
        db, settings, api.org_id, "b_out", by_step["b"]["output_versions"]["b_out"]
    ) == [(m,) for m in range(10, 15)]
    assert recorded_versions(db, api.org_id, "a_out") == [0, 1]


def test_partial_run_reads_unselected_upstream_at_its_current_version(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    pipeline = make_pipeline(api, generated_steps())  # gen -> double -> total
    whole = run_pipeline(api, runtime, pipeline["id"])
    assert whole["status"] == "Succeeded"
    assert dataset_rows(db, settings, api.org_id, "total") == [(90,)]
    # numbers gets a newer version from elsewhere; the partial run must read that one
    write_dataset(api, runtime, "numbers", "SELECT range AS n FROM range(100, 103)")
    partial = run_pipeline(api, runtime, pipeline["id"], start_job_name="double")
    assert partial["status"] == "Succeeded", partial
    by_step = steps(partial)
    assert set(by_step) == {"double", "total"}
    assert by_step["double"]["input_versions"] == {"numbers": 1}
    assert by_step["double"]["output_versions"] == {"doubled": 1}
    assert by_step["total"]["input_versions"] == {"doubled": 1}
    assert dataset_rows(db, settings, api.org_id, "doubled", 1) == [(200,), (202,), (204,)]
    assert dataset_rows(db, settings, api.org_id, "total", 1) == [(606,)]
    # a run ending at double leaves total alone and still reads numbers' current version
    write_dataset(api, runtime, "numbers", "SELECT 7 AS n")
    only = run_pipeline(
        api, runtime, pipeline["id"], start_job_name="double", end_job_name="double"
    )
    assert [s["name"] for s in only["run_steps"]] == ["double"]
    assert steps(only)["double"]["input_versions"] == {"numbers": 2}
    assert dataset_rows(db, settings, api.org_id, "doubled", 2) == [(14,)]
    assert current_version(db, api.org_id, "total") == 1


def test_a_step_that_would_spill_past_its_limit_fails_and_writes_nothing(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    tight = settings.model_copy(
        update={"step_memory_limit": "64MB", "step_spill_limit": "1MB", "step_threads": 1}
    )
    query = "SELECT range AS n, md5(range::VARCHAR) AS h FROM range(3000000) ORDER BY h"
    pipeline = make_pipeline(api, [make_step("sort", query, [], ["sorted"])])
    with runtime_with(runtime, tight) as on_tight:
        run = run_pipeline(api, on_tight, pipeline["id"])
    assert run["status"] == "Failed"
    error = steps(run)["sort"]["error"]
    assert error == (
        "the step ran out of memory and of its 1MB of spill space on disk "
        "(HEADRACE_STEP_SPILL_LIMIT), so it was stopped and wrote nothing"
    )
    assert current_version(db, api.org_id, "sorted") is None
    # no file of the step is left in the organisation's part of the warehouse
    org = uuid.UUID(api.org_id).hex
    org_paths = [p for p in Path(settings.data_dir).rglob("*") if org in str(p)]
    assert org_paths  # the step's table folder was made
    assert [p for p in org_paths if p.is_file()] == []
