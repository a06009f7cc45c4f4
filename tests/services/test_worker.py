"""A worker killed with SIGKILL mid-run: another worker takes the run over once the lease
expires and completes it, without running again the steps that had succeeded."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from headrace.api.app import create_app
from headrace.execution.doorbell import Doorbell
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.services.executors import open_worker
from headrace.services.worker import Worker
from headrace.settings import Settings
from tests.execution.support import (
    TERMINAL,
    dataset_rows,
    get_run,
    recorded_versions,
    run_pipeline,
    steps,
    wait_for,
)
from tests.factories import Api, make_org, make_pipeline, make_run, make_step


def test_a_killed_worker_s_run_is_completed_by_another(own_database: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=own_database, run_worker=False, lease_seconds=2
    )
    db = Database(own_database)
    try:
        with (
            Runtime(settings, db) as rt,
            TestClient(create_app(settings, rt), raise_server_exceptions=False) as client,
        ):
            _crash_and_take_over(make_org(client, db), rt, tmp_path)
    finally:
        db.dispose()


def _crash_and_take_over(api: Api, runtime: Runtime, tmp_path: Path) -> None:
    db, settings = runtime.db, runtime.settings
    # "gate" sizes the slow step: endless while the first worker runs it, small afterwards.
    gate = make_pipeline(api, [make_step("g", "SELECT 1000000000000::BIGINT AS n", [], ["gate"])])
    assert run_pipeline(api, runtime, gate["id"])["status"] == "Succeeded"
    pipeline = make_pipeline(
        api,
        [
            make_step("first", "SELECT range AS k FROM range(10)", [], ["base"]),
            make_step(
                "slow",
                "SELECT count(*) AS c, (SELECT sum(k) FROM base) AS s FROM gate, range(gate.n) r",
                ["base", "gate"],
                ["counted"],
            ),
            make_step("last", "SELECT c, s, c + s AS total FROM counted", ["counted"], ["final"]),
        ],
    )
    env = {
        **os.environ,
        "HEADRACE_DATABASE_URL": settings.effective_database_url,
        "HEADRACE_DATA_DIR": str(settings.data_dir),
        "HEADRACE_LEASE_SECONDS": "2",
        "HEADRACE_WORKER_POLL_SECONDS": "0.05",
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "headrace.cli.main", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        run = make_run(api, pipeline["id"])

        def slow_running() -> bool:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            status: str = steps(get_run(api, pipeline["id"], run["id"]))["slow"]["status"]
            return status == "Running"

        wait_for(slow_running, timeout=60, what="the subprocess worker to run the slow step")
    finally:
        worker.kill()  # SIGKILL: no clean-up, the lease is simply left to expire
        worker.wait()
        log.close()
    assert worker.returncode == -9
    before = get_run(api, pipeline["id"], run["id"])
    assert before["status"] == "Running"
    assert steps(before)["first"]["status"] == "Succeeded"
    first_versions = steps(before)["first"]["output_versions"]
    assert first_versions == {"base": 0}
    # the gate is lowered so that the slow step can finish when it runs again
    _lower_gate(api, runtime, gate["id"])
    second = open_worker(runtime)
    thread = threading.Thread(target=second.serve, daemon=True)
    thread.start()
    try:
        wait_for(
            lambda: get_run(api, pipeline["id"], run["id"])["status"] in TERMINAL,
            timeout=60,
            what="the second worker to finish the run",
        )
    finally:
        second.stop()
        thread.join(timeout=20)
    after = get_run(api, pipeline["id"], run["id"])
    assert after["status"] == "Succeeded", after
    assert {s["status"] for s in after["run_steps"]} == {"Succeeded"}
    by_step = steps(after)
    assert by_step["first"]["output_versions"] == first_versions
    assert by_step["first"]["started_at"] == steps(before)["first"]["started_at"]
    assert recorded_versions(db, api.org_id, "base") == [0]
    assert by_step["slow"]["input_versions"] == {"base": 0, "gate": 1}
    assert dataset_rows(db, settings, api.org_id, "final") == [(5, 45, 50)]


def _lower_gate(api: Api, runtime: Runtime, gate_id: str) -> None:
    r = api.post(
        f"/pipelines/{gate_id}/versions/",
        json={"steps": [make_step("g", "SELECT 5::BIGINT AS n", [], ["gate"])]},
    )
    assert r.status_code == 201, r.text
    assert run_pipeline(api, runtime, gate_id)["status"] == "Succeeded"


class _Counted(Doorbell):
    """Answers each wait at once, as if its time had passed: rung only on the waits listed."""

    def __init__(self, worker: list[Worker], rung_on: set[int], waits: int) -> None:
        super().__init__()
        self.worker, self.rung_on, self.waits = worker, rung_on, waits
        self.asked: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.asked.append(timeout)
        if len(self.asked) == self.waits:
            self.worker[0].stopping.set()
        return len(self.asked) in self.rung_on


def test_an_idle_worker_looks_less_often_until_a_ring_or_a_run(
    own_database: str, tmp_path: Path
) -> None:
    # Each look is a transaction: every 50 ms, an idle server spent 8 % of a core on them.
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=own_database,
        run_worker=False,
        worker_poll_seconds=0.05,
        worker_idle_poll_seconds=0.3,
    )
    db = Database(own_database)
    try:
        with Runtime(settings, db) as rt:
            worker: list[Worker] = []
            bell = _Counted(worker, rung_on={5}, waits=8)
            worker.append(open_worker(rt, doorbell=bell))
            worker[0]._serve()
    finally:
        db.dispose()
    assert bell.asked == pytest.approx([0.05, 0.1, 0.2, 0.3, 0.3, 0.05, 0.1, 0.2])
