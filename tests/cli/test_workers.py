"""``headrace worker --processes N``: worker processes under the supervisor ``headrace serve``
uses, a dead one started again, SIGTERM stopping them all."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from tests.cli.test_serve_processes import _alive, _children, installation
from tests.execution.support import wait_for
from tests.factories import make_pipeline, make_run, make_step
from tests.reliability.processes import Installation

__all__ = ["installation"]  # the fixture: a store of its own per test


def _started(log: Path, name: str) -> int:
    """The pid the child ``name`` was last started with, as the supervisor logged it."""
    found = re.findall(rf"started {name} \(pid (\d+)\)", log.read_text())
    return int(found[-1]) if found else 0


def test_worker_processes_are_supervised_and_run_the_runs(installation: Installation) -> None:
    parent = installation.start_worker("--processes", "2", HEADRACE_WORKER_POLL_SECONDS="0.1")
    log = next((installation.root / "logs").glob("worker-*.log"))
    wait_for(lambda: all(_started(log, f"worker-{i}") for i in (0, 1)), 60, "two workers")
    first = _started(log, "worker-0")
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: _started(log, "worker-0") != first, 60, "worker-0 to be started again")
    assert f"worker-0 (pid {first}) exited with code -9" in log.read_text()
    # The processes (the restarted one too) still claim and run what is created.
    server = installation.start_server(HEADRACE_RUN_WORKER="false")
    api = server.api(*installation.new_org())
    pipeline = make_pipeline(api, [make_step("tick", "SELECT 1 AS n", outputs=["ticks"])])
    made = [make_run(api, pipeline["id"]) for _ in range(3)]

    def ended() -> bool:
        runs = [api.get(f"/pipelines/{pipeline['id']}/runs/{r['id']}/").json() for r in made]
        return all(r["status"] == "Succeeded" for r in runs)

    wait_for(ended, 120, "the runs to succeed")
    children = _children(parent.pid)
    assert {_started(log, "worker-0"), _started(log, "worker-1")} <= children
    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=60) == 0
    wait_for(lambda: not any(_alive(c) for c in children), 30, "the children to end")
