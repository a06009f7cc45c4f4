"""What must hold after any fault, checked through the API and on disk: every run ends,
every recorded dataset version is whole and readable, no unrecorded version is served."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo
from headrace.storage import delta
from tests.execution.support import TERMINAL, read_rows, wait_for
from tests.factories import Api


def runs_of(api: Api, pipeline_id: str) -> list[dict[str, Any]]:
    r = api.get(f"/pipelines/{pipeline_id}/runs/", params={"limit": 1000})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def stored_status(database_url: str, run_id: str) -> tuple[str, ...]:
    """The run's status and its steps' in order, read from the store (no server needed)."""
    db = Database(database_url)
    try:
        with db.unit_of_work(write=False) as conn:
            run = runs_repo.get_by_id(conn, uuid.UUID(run_id))
    finally:
        db.dispose()
    assert run is not None
    return (run.status, *(s.status for s in run.steps))


def wait_until_ended(api: Api, pipeline_id: str, timeout: float = 90) -> list[dict[str, Any]]:
    """Every run of the pipeline, once none is Pending or Running any more."""
    wait_for(
        lambda: all(run["status"] in TERMINAL for run in runs_of(api, pipeline_id)),
        timeout=timeout,
        what=f"every run of pipeline {pipeline_id} to end",
    )
    runs = runs_of(api, pipeline_id)
    for run in runs:
        assert run["finished_at"] is not None, run
        assert all(s["finished_at"] is not None for s in run["run_steps"]), run
    return runs


def datasets_by_name(api: Api) -> dict[str, dict[str, Any]]:
    r = api.get("/datasets/", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return {d["name"]: d for d in r.json()}


def table_of(warehouse: Path, api: Api, dataset_id: str) -> str:
    return str(warehouse / uuid.UUID(api.org_id).hex / uuid.UUID(dataset_id).hex)


def recorded_versions(api: Api, dataset_id: str) -> list[dict[str, Any]]:
    """The versions the catalog lists for the dataset, newest first."""
    r = api.get(f"/datasets/{dataset_id}/")
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["versions"]
    return found


def log_versions(table: str) -> list[int]:
    """Every version committed to the table's Delta log, recorded in the catalog or not."""
    log = os.path.join(table, "_delta_log")
    if not os.path.isdir(log):
        return []
    return sorted(int(f[:-5]) for f in os.listdir(log) if f.endswith(".json") and f[0].isdigit())


def check_datasets(api: Api, warehouse: Path) -> int:
    """Read every version of every dataset of the organisation; the number read.

    A recorded version must have all its files and exactly the rows the catalog says; a
    version the Delta log holds but the catalog does not (a write cut short between its
    commit and its record) must not be served."""
    checked = 0
    for name, summary in datasets_by_name(api).items():
        table = table_of(warehouse, api, summary["id"])
        recorded = {v["version"]: v for v in recorded_versions(api, summary["id"])}
        assert recorded, f"dataset {name} is listed with no version"
        assert summary["current_version"] == max(recorded), summary
        for version, entry in recorded.items():
            snap = delta.snapshot(table, version)
            missing = [f for f in snap.files if not os.path.exists(f)]
            assert not missing, f"{name} v{version} points at missing files {missing}"
            count = read_rows(table, version, "count(*)")[0][0] if snap.files else 0
            assert count == entry["row_count"], f"{name} v{version}: {count} rows, {entry}"
            checked += 1
        for version in set(log_versions(table)) - set(recorded):
            r = api.get(f"/datasets/{summary['id']}/rows/", params={"version": version})
            assert r.status_code == 404, f"unrecorded {name} v{version} is served: {r.text}"
    return checked


def outputs(api: Api, warehouse: Path, run: dict[str, Any]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of every dataset the run wrote, at the version it wrote."""
    ids = {n: d["id"] for n, d in datasets_by_name(api).items()}
    found = {}
    for step in run["run_steps"]:
        for name, version in step["output_versions"].items():
            found[name] = read_rows(table_of(warehouse, api, ids[name]), int(version))
    return found


def check_no_orphans(api: Api, warehouse: Path, scratch: Path) -> None:
    """After a sweep: every Parquet file in the organisation's tables is named by some version
    of its log (read version by version through deltalake, not by the sweep's own reading of
    the log), no write folder is left, every table folder is a dataset's, nothing is staged."""
    org = warehouse / uuid.UUID(api.org_id).hex
    tables = {uuid.UUID(d["id"]).hex for d in datasets_by_name(api).values()}
    assert {p.name for p in org.iterdir()} <= tables, "a table folder of no dataset is left"
    for name in tables:
        table = org / name
        used = {
            os.path.normpath(uri)
            for version in log_versions(str(table))
            for uri in DeltaTable(str(table), version=version).file_uris()
        }
        files = {
            os.path.normpath(p) for p in map(str, table.rglob("*.parquet")) if "_delta_log" not in p
        }
        assert files <= used, f"unreferenced files are left: {sorted(files - used)}"
        empty = [p for p in table.glob("w-*") if not any(p.iterdir())]
        assert not empty, f"empty write folders are left: {empty}"
    staged = list(scratch.iterdir()) if scratch.exists() else []
    assert not staged, f"staged files are left: {staged}"
