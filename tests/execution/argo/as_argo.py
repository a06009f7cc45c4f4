"""A run's manifest executed the way Argo would, pod by pod, compared with the local
executor running the same pipeline: the same datasets, row for row.

Each DAG task, in dependency order, becomes a separate process running the container's
command with Argo's variables substituted (``pod_command``: the run id parameter and the
task's ``{{node.name}}``), with nothing in its environment but what the caller says a pod
gets from the Secret (database URL, warehouse, store credentials) and a PATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from headrace.domain.records import RunRecord
from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo
from headrace.runtime import Runtime
from headrace.services import datasets as catalog
from headrace.services.executors import open_worker
from headrace.settings import Settings
from headrace.storage.warehouse import Warehouse
from tests.execution.argo.pod_command import option, pod_command
from tests.factories import Api, diamond_steps, make_pipeline, make_run

HEADRACE = str(Path(sys.executable).with_name("headrace"))


def waves(tasks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The tasks in dependency order, grouped in waves that may run at once (as Argo would)."""
    done: set[str] = set()
    found: list[list[dict[str, Any]]] = []
    while len(done) < len(tasks):
        ready = [
            t
            for t in tasks
            if t["name"] not in done
            and all(d.strip() in done for d in t.get("depends", "").split("&&") if d.strip())
        ]
        assert ready, "the DAG has a cycle or a dangling depends"
        found.append(ready)
        done |= {t["name"] for t in ready}
    return found


def pod_commands(manifest: dict[str, Any]) -> list[list[list[str]]]:
    """The container command of every task, variables substituted, wave by wave."""
    spec = manifest["spec"]
    (dag,) = [t["dag"] for t in spec["templates"] if t["name"] == spec["entrypoint"]]
    return [[pod_command(manifest, task["name"]) for task in wave] for wave in waves(dag["tasks"])]


def written_rows(settings: Settings, run: RunRecord, db: Database) -> dict[str, list[Any]]:
    """Every dataset the run wrote, at the version it wrote, rows sorted (read by deltalake
    straight from the warehouse, local or S3)."""
    warehouse = Warehouse.from_settings(settings)
    options = warehouse.store.storage_options if warehouse.store else None
    out = {}
    for step in run.steps:
        for name, version in step.output_versions.items():
            table = warehouse.table(run.org_id, catalog.ensure(db, run.org_id, name))
            data: pa.Table = DeltaTable(
                table, version=int(version), storage_options=options
            ).to_pyarrow_table()
            out[name] = sorted(data.to_pylist(), key=repr)
    return out


def load_run(db: Database, run_id: uuid.UUID) -> RunRecord:
    with db.unit_of_work(write=False) as conn:
        run = runs_repo.get_by_id(conn, run_id)
    assert run is not None
    return run


def pods_match_the_local_executor(
    api: Api, runtime: Runtime, pod_env: Callable[[str], dict[str, str]]
) -> None:
    """Run the diamond pipeline's manifest as pods (``pod_env(node)`` is each pod's whole
    environment besides PATH), then locally, and compare what both wrote."""
    db, settings = runtime.db, runtime.settings
    pipeline = make_pipeline(api, diamond_steps())
    on_argo = load_run(db, uuid.UUID(make_run(api, pipeline["id"])["id"]))

    stages = pod_commands(on_argo.argo_manifest)
    assert [len(w) for w in stages] == [1, 2, 1]  # src, then left and right at once, then join
    step_at = {s.run_name: s.name for s in on_argo.steps}
    for wave in stages:
        pods = [
            (
                step_at[option(command, "--node")],
                subprocess.Popen(
                    [HEADRACE, *command[1:]],
                    env={**pod_env(option(command, "--node")), "PATH": os.path.dirname(HEADRACE)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                ),
            )
            for command in wave
        ]
        for step, pod in pods:
            assert pod.args[:3] == [HEADRACE, "step", "exec"]
            output, _ = pod.communicate(timeout=120)
            assert pod.returncode == 0, output
            assert output.strip().splitlines()[-1] == f"step {step}: Succeeded"

    # use_cache false: the local run computes every step again instead of reusing the pods'
    local_id = uuid.UUID(make_run(api, pipeline["id"], use_cache=False)["id"])
    worker = open_worker(runtime)
    assert worker.claim(only=local_id) == local_id
    worker.execute(local_id)

    on_argo, local = load_run(db, on_argo.id), load_run(db, local_id)
    assert local.status == "Succeeded"
    assert {s.status for s in on_argo.steps} == {"Succeeded"}
    pods_wrote, here = written_rows(settings, on_argo, db), written_rows(settings, local, db)
    assert set(pods_wrote) == {"base", "evens", "odds", "all_numbers"}
    assert pods_wrote == here
    assert sorted(row["n"] for row in pods_wrote["all_numbers"]) == list(range(5))
    # Two runs, two sets of versions: the pods really wrote their own.
    assert all(
        a.output_versions != b.output_versions
        for a, b in zip(on_argo.steps, local.steps, strict=True)
    )
