"""``headrace serve`` with several API processes (HEADRACE_SERVE_PROCESSES, ``--workers``): a
real server in subprocesses over a store of its own, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from headrace.persistence.db import Database
from headrace.persistence.migrate import upgrade
from tests.conftest import _postgres_database
from tests.execution.support import wait_for
from tests.factories import make_pipeline, make_run, make_step
from tests.reliability.processes import Installation, ServerProcess


@pytest.fixture
def installation(database_url: str, tmp_path: Path) -> Iterator[Installation]:
    """A store of the same kind as ``database_url`` that no other test uses (the server's
    worker claims every Pending run it finds), and a warehouse."""
    if database_url.startswith("sqlite"):
        urls: Iterator[str] = iter([f"sqlite:///{tmp_path / 'serve.db'}"])
    else:
        urls = _postgres_database(f"headrace_serve_{uuid.uuid4().hex[:12]}")
    for url in urls:
        db = Database(url)
        upgrade(db.engine)
        db.dispose()
        found = Installation(tmp_path, url)
        try:
            yield found
        finally:
            found.stop_everything()


def _children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (multiprocessing's resource tracker included)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent (or init) to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _named(server: ServerProcess, name: str) -> int:
    """The pid of the child that logged its start as ``name``, most recent first."""
    started = re.findall(rf"started {name} \(pid (\d+)\)", server.log.read_text())
    return int(started[-1])


def test_api_processes_share_the_port_and_the_worker_process_runs_what_they_create(
    installation: Installation,
) -> None:
    """The worker polls once an hour here: the runs are claimed because the API process
    that created each one rang the worker process's doorbell."""
    server = installation.start_server(
        HEADRACE_SERVE_PROCESSES="2", HEADRACE_WORKER_POLL_SECONDS="3600"
    )
    api = server.api(*installation.new_org())
    pipeline = make_pipeline(api, [make_step("tick", "SELECT 1 AS n", outputs=["ticks"])])
    wait_for(lambda: "headrace.worker worker" in server.log.read_text(), 60, "the worker")
    made = [make_run(api, pipeline["id"]) for _ in range(4)]

    def ended() -> bool:
        runs = api.get(f"/pipelines/{pipeline['id']}/runs/").json()
        return all(r["status"] in ("Succeeded", "Failed", "Error") for r in runs)

    wait_for(ended, 120, "the runs to end")
    runs = api.get(f"/pipelines/{pipeline['id']}/runs/").json()
    assert sorted(r["id"] for r in runs) == sorted(r["id"] for r in made)
    assert {r["status"] for r in runs} == {"Succeeded"}
    log = server.log.read_text()
    for name in ("api-0", "api-1", "worker"):
        assert f"started {name} (pid" in log
        assert f"[{name}] " in log  # each process's lines say which it is


def test_a_dead_process_is_reported_and_replaced_and_sigterm_stops_them_all(
    installation: Installation,
) -> None:
    server = installation.start_server(HEADRACE_SERVE_PROCESSES="2")
    wait_for(lambda: "[worker] headrace.worker" in server.log.read_text(), 60, "the worker")
    first = _named(server, "api-0")
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: _named(server, "api-0") != first, 60, "api-0 to be started again")
    assert f"api-0 (pid {first}) exited with code -9" in server.log.read_text()
    worker = _named(server, "worker")
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: _named(server, "worker") != worker, 60, "the worker to be started again")
    with httpx.Client(base_url=server.url) as client:
        for _ in range(10):  # new connections, spread over the API processes
            assert client.get("/healthz", headers={"Connection": "close"}).status_code == 200
    children = _children(server.process.pid)
    assert {_named(server, n) for n in ("api-0", "api-1", "worker")} <= children
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) == 0
    wait_for(lambda: not any(_alive(c) for c in children), 30, "the children to end")


def test_the_children_end_when_the_parent_is_killed(installation: Installation) -> None:
    server = installation.start_server(args=("--workers", "2"))  # the option, not the setting
    wait_for(lambda: "[worker] headrace.worker" in server.log.read_text(), 60, "the worker")
    children = {_named(server, n) for n in ("api-0", "api-1", "worker")}
    server.kill()
    wait_for(lambda: not any(_alive(c) for c in children), 30, "the children to end")


def _refused_in(path: Path) -> float:
    """The count of refused ``GET /pipelines/`` in one API process's file."""
    for metric in MultiProcessCollector.merge([str(path)]):  # type: ignore[no-untyped-call]
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels.get("status") == "401":
                return float(sample.value)
    return 0.0


def test_metrics_count_the_requests_of_every_api_process(
    installation: Installation, tmp_path: Path
) -> None:
    shared = tmp_path / "metrics"
    server = installation.start_server(
        HEADRACE_SERVE_PROCESSES="2", PROMETHEUS_MULTIPROC_DIR=str(shared)
    )
    sent = 0
    with httpx.Client(base_url=server.url) as client:
        # New connections, refused for want of a key (a route no health check uses), until
        # both processes have served some: each keeps its counts in a file of its own.
        while sum(_refused_in(f) > 0 for f in shared.glob("histogram_*.db")) < 2:
            assert sent < 500, "one API process served every connection"
            assert client.get("/pipelines/", headers={"Connection": "close"}).status_code == 401
            sent += 1
        scraped = client.get("/metrics").text
    count = re.search(
        r'headrace_http_request_duration_seconds_count\{method="GET",route="/pipelines",'
        r'status="401"\} (\S+)',
        scraped,
    )
    assert count is not None, scraped
    assert float(count.group(1)) == sent
