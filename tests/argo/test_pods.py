"""A run's manifest executed the way Argo would, pod by pod, gives the same datasets, row for
row, as the local executor running the same pipeline.

Each DAG task, in dependency order, becomes a separate process running the container's
command with Argo's variables substituted (``pod_command``: the run id parameter and the
task's ``{{node.name}}``), and nothing in its environment but what the pod gets from the
Secret (database URL, warehouse) and a PATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from headrace.execution.argo.pod import step_of_node
from headrace.execution.worker import Worker
from headrace.persistence.db import Database
from headrace.persistence.records import RunRecord
from headrace.persistence.repositories import runs as runs_repo
from headrace.services import datasets as catalog
from headrace.settings import Settings
from headrace.storage.warehouse import Warehouse
from tests.argo.pod_command import option, pod_command
from tests.factories import Api, diamond_steps, make_pipeline, make_run


def _waves(tasks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The tasks in dependency order, grouped in waves that may run at once (as Argo would)."""
    done: set[str] = set()
    waves: list[list[dict[str, Any]]] = []
    while len(done) < len(tasks):
        ready = [
            t
            for t in tasks
            if t["name"] not in done
            and all(d.strip() in done for d in t.get("depends", "").split("&&") if d.strip())
        ]
        assert ready, "the DAG has a cycle or a dangling depends"
        waves.append(ready)
        done |= {t["name"] for t in ready}
    return waves


def _pod_commands(manifest: dict[str, Any]) -> list[list[list[str]]]:
    """The container command of every task, variables substituted, wave by wave."""
    spec = manifest["spec"]
    (dag,) = [t["dag"] for t in spec["templates"] if t["name"] == spec["entrypoint"]]
    return [[pod_command(manifest, task["name"]) for task in wave] for wave in _waves(dag["tasks"])]


def _rows(settings: Settings, run: RunRecord, db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every dataset the run wrote, at the version it wrote, rows sorted."""
    warehouse = Warehouse(settings.effective_warehouse)
    out = {}
    for step in run.steps:
        for name, version in step.output_versions.items():
            table = warehouse.table(run.org_id, catalog.ensure(db, run.org_id, name))
            data: pa.Table = DeltaTable(table, version=int(version)).to_pyarrow_table()
            out[name] = sorted(data.to_pylist(), key=repr)
    return out


def _load(db: Database, run_id: uuid.UUID) -> RunRecord:
    with db.unit_of_work(write=False) as conn:
        run = runs_repo.get_by_id(conn, run_id)
    assert run is not None
    return run


def test_manifest_run_pod_by_pod_matches_the_local_executor(
    api: Api, db: Database, settings: Settings, database_url: str
) -> None:
    pipeline = make_pipeline(api, diamond_steps())
    on_argo = _load(db, uuid.UUID(make_run(api, pipeline["id"])["id"]))
    headrace = str(Path(sys.executable).with_name("headrace"))
    pod_env = {
        "HEADRACE_DATABASE_URL": database_url,
        "HEADRACE_WAREHOUSE": settings.effective_warehouse,
        "HEADRACE_DATA_DIR": str(settings.data_dir),
        "PATH": os.path.dirname(headrace),
    }

    waves = _pod_commands(on_argo.argo_manifest)
    assert [len(w) for w in waves] == [1, 2, 1]  # src, then left and right at once, then join
    step_at = {s.run_name: s.name for s in on_argo.steps}
    for wave in waves:
        pods = [
            (
                step_at[option(command, "--node")],
                subprocess.Popen(
                    [headrace, *command[1:]],
                    env=pod_env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                ),
            )
            for command in wave
        ]
        for step, pod in pods:
            assert [headrace, "step", "exec"] == pod.args[:3]
            output, _ = pod.communicate(timeout=120)
            assert pod.returncode == 0, output
            assert output.strip().splitlines()[-1] == f"step {step}: Succeeded"

    local_id = uuid.UUID(make_run(api, pipeline["id"])["id"])
    worker = Worker(db, settings)
    assert worker.claim(only=local_id) == local_id
    worker.execute(local_id)

    on_argo, local = _load(db, on_argo.id), _load(db, local_id)
    assert local.status == "Succeeded"
    assert {s.status for s in on_argo.steps} == {"Succeeded"}
    pods, here = _rows(settings, on_argo, db), _rows(settings, local, db)
    assert set(pods) == {"base", "evens", "odds", "all_numbers"}
    assert pods == here
    assert sorted(row["n"] for row in pods["all_numbers"]) == list(range(5))
    # Two runs, two sets of versions: the pods really wrote their own.
    assert all(
        a.output_versions != b.output_versions
        for a, b in zip(on_argo.steps, local.steps, strict=True)
    )


def test_a_failing_pod_exits_1_with_its_step_recorded(
    api: Api, db: Database, settings: Settings, database_url: str
) -> None:
    steps = diamond_steps()[:1]
    steps[0]["config"]["query"] = "SELECT CAST('x' AS INTEGER) AS n"
    pipeline = make_pipeline(api, steps)
    run = _load(db, uuid.UUID(make_run(api, pipeline["id"])["id"]))
    ((command,),) = _pod_commands(run.argo_manifest)
    headrace = str(Path(sys.executable).with_name("headrace"))
    env = {
        "HEADRACE_DATABASE_URL": database_url,
        "HEADRACE_WAREHOUSE": settings.effective_warehouse,
    }

    done = subprocess.run([headrace, *command[1:]], env=env, capture_output=True, text=True)

    assert done.returncode == 1, done.stdout + done.stderr
    step = _load(db, run.id).steps[0]
    assert step.status == "Failed"
    assert step.error is not None and "'x'" in step.error


def test_a_pod_finds_its_step_by_node_name_on_any_attempt(api: Api, db: Database) -> None:
    pipeline = make_pipeline(api, diamond_steps())
    run = _load(db, uuid.UUID(make_run(api, pipeline["id"])["id"]))
    workflow = run.argo_manifest["metadata"]["name"]

    assert step_of_node(db, run.id, f"{workflow}.left") == "left"
    # An attempt's own node name, should Argo ever hand that out instead of the task's.
    assert step_of_node(db, run.id, f"{workflow}.left(1)") == "left"
    with pytest.raises(LookupError, match="no step that runs as Argo node"):
        step_of_node(db, run.id, f"{workflow}.nowhere")
    with pytest.raises(LookupError, match="no step that runs as Argo node"):
        step_of_node(db, run.id, "other-workflow.left")
