"""Helpers of the executor tests: run a run, wait for it, read what it wrote."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from headrace.domain.runs import RunStatus
from headrace.persistence.db import Database
from headrace.persistence.repositories import datasets as datasets_repo
from headrace.runtime import Runtime
from headrace.services.executors import open_worker
from headrace.settings import Settings
from headrace.storage import delta
from headrace.storage.warehouse import Warehouse
from tests.factories import Api, make_pipeline, make_run, make_step

TERMINAL = {"Succeeded", "Failed", "Error", "Cancelled"}


@contextmanager
def runtime_with(base: Runtime, settings: Settings) -> Iterator[Runtime]:
    """A runtime of other ``settings`` on ``base``'s store and step processes."""
    with Runtime(settings, base.db, steps=base.steps) as runtime:
        yield runtime


def execute(runtime: Runtime, run_id: str | uuid.UUID) -> RunStatus:
    """Claim exactly this run (never another test's) and execute it in this thread."""
    worker = open_worker(runtime)
    rid = uuid.UUID(str(run_id))
    assert worker.claim(only=rid) == rid
    return worker.execute(rid)


def run_pipeline(api: Api, runtime: Runtime, pipeline_id: str, **body: Any) -> dict[str, Any]:
    """Create a run of the pipeline, execute it, return the run as the API shows it."""
    run = make_run(api, pipeline_id, **body)
    execute(runtime, run["id"])
    return get_run(api, pipeline_id, run["id"])


def write_dataset(api: Api, runtime: Runtime, name: str, query: str) -> dict[str, Any]:
    """A new version of dataset ``name``, written by a one-step pipeline of its own (never
    reused: the same query twice writes two versions)."""
    pipeline = make_pipeline(api, [make_step("w", query, [], [name])])
    run = run_pipeline(api, runtime, pipeline["id"], use_cache=False)
    assert run["status"] == "Succeeded", run
    return run


def get_run(api: Api, pipeline_id: str, run_id: str) -> dict[str, Any]:
    r = api.get(f"/pipelines/{pipeline_id}/runs/{run_id}/")
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in run["run_steps"]}


def wait_for(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll ``check`` until it holds; a generous bound, never a timing assertion."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.05)


def table_path(db: Database, settings: Settings, org_id: str, name: str) -> str:
    with db.unit_of_work(write=False) as conn:
        row = datasets_repo.by_name(conn, uuid.UUID(org_id), name)
    assert row is not None, f"no dataset {name}"
    return Warehouse(settings.effective_warehouse).table(uuid.UUID(org_id), uuid.UUID(str(row.id)))


def current_version(db: Database, org_id: str, name: str) -> int | None:
    with db.unit_of_work(write=False) as conn:
        return datasets_repo.current_versions(conn, uuid.UUID(org_id), [name]).get(name)


def recorded_versions(db: Database, org_id: str, name: str) -> list[int]:
    """Versions of the dataset the catalog holds, oldest first."""
    with db.unit_of_work(write=False) as conn:
        row = datasets_repo.by_name(conn, uuid.UUID(org_id), name)
        assert row is not None
        found = datasets_repo.versions(conn, [uuid.UUID(str(row.id))])
    return sorted(int(r.version) for r in found)


def read_rows(table: str, version: int, columns: str = "*") -> list[tuple[Any, ...]]:
    """Every row of one Delta version, sorted, read through its file list (no deltalake
    reader involved beyond the log)."""
    snap = delta.snapshot(table, version)
    if not snap.files:
        return []
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone='UTC'")
        rows = con.execute(
            f"SELECT {columns} FROM read_parquet(?, union_by_name=true)", [snap.files]
        ).fetchall()
    finally:
        con.close()
    return sorted(rows, key=repr)


def dataset_rows(
    db: Database, settings: Settings, org_id: str, name: str, version: int | None = None
) -> list[tuple[Any, ...]]:
    table = table_path(db, settings, org_id, name)
    if version is None:
        version = current_version(db, org_id, name)
        assert version is not None
    return read_rows(table, version)


def delta_version(table: str) -> int | None:
    return delta.current_version(table)
