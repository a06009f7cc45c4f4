"""``headrace step exec`` as an Argo pod runs it: a whole manifest pod by pod gives the same
datasets as the local executor (``as_argo.py``), a failing step exits 1 with its outcome
recorded, and a pod finds its step by the node name Argo gives it.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest

from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.services.step_store import step_of_node
from headrace.settings import Settings
from tests.execution.argo.as_argo import (
    HEADRACE,
    load_run,
    pod_commands,
    pods_match_the_local_executor,
)
from tests.factories import Api, diamond_steps, make_pipeline, make_run


def test_manifest_run_pod_by_pod_matches_the_local_executor(
    api: Api, runtime: Runtime, settings: Settings, database_url: str
) -> None:
    env = {
        "HEADRACE_DATABASE_URL": database_url,
        "HEADRACE_WAREHOUSE": settings.effective_warehouse,
        "HEADRACE_DATA_DIR": str(settings.data_dir),
    }
    pods_match_the_local_executor(api, runtime, lambda node: env)


def test_a_failing_pod_exits_1_with_its_step_recorded(
    api: Api, db: Database, settings: Settings, database_url: str
) -> None:
    steps = diamond_steps()[:1]
    steps[0]["config"]["query"] = "SELECT CAST('x' AS INTEGER) AS n"
    pipeline = make_pipeline(api, steps)
    run = load_run(db, uuid.UUID(make_run(api, pipeline["id"])["id"]))
    ((command,),) = pod_commands(run.argo_manifest)
    env = {
        "HEADRACE_DATABASE_URL": database_url,
        "HEADRACE_WAREHOUSE": settings.effective_warehouse,
    }

    done = subprocess.run([HEADRACE, *command[1:]], env=env, capture_output=True, text=True)

    assert done.returncode == 1, done.stdout + done.stderr
    step = load_run(db, run.id).steps[0]
    assert step.status == "Failed", done.stdout + done.stderr
    assert step.error is not None and "'x'" in step.error


def test_a_pod_finds_its_step_by_node_name_on_any_attempt(api: Api, db: Database) -> None:
    pipeline = make_pipeline(api, diamond_steps())
    run = load_run(db, uuid.UUID(make_run(api, pipeline["id"])["id"]))
    workflow = run.argo_manifest["metadata"]["name"]

    assert step_of_node(db, run.id, f"{workflow}.left") == "left"
    # An attempt's own node name, should Argo ever hand that out instead of the task's.
    assert step_of_node(db, run.id, f"{workflow}.left(1)") == "left"
    with pytest.raises(LookupError, match="no step that runs as Argo node"):
        step_of_node(db, run.id, f"{workflow}.nowhere")
    with pytest.raises(LookupError, match="no step that runs as Argo node"):
        step_of_node(db, run.id, "other-workflow.left")
