"""PostgreSQL stopped (``immediate``: every connection cut, as in a crash) and started again
while a run executes, on a private cluster: the shared one is never touched.

The server and its worker lose every connection mid-step; once the database is back, the run
ends (it is not left Running), the server answers again, and re-running gives the same data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import make_pipeline, make_run
from tests.reliability.invariants import check_datasets, outputs, stored_status, wait_until_ended
from tests.reliability.private_postgres import PrivateCluster, private_cluster
from tests.reliability.processes import Installation
from tests.reliability.workload import slow_steps, wait_step_running


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    yield from private_cluster()


@pytest.fixture
def installation(cluster: PrivateCluster, tmp_path: Path) -> Iterator[Installation]:
    found = Installation(tmp_path, cluster.url)
    yield found
    found.stop_everything()


def test_postgres_restarted_mid_run(cluster: PrivateCluster, installation: Installation) -> None:
    server = installation.start_server()
    key, org = installation.new_org()
    api = server.api(key, org)
    pipeline = make_pipeline(api, slow_steps())
    make_run(api, pipeline["id"])
    reference = wait_until_ended(api, pipeline["id"])[0]
    assert reference["status"] == "Succeeded", reference

    run = make_run(api, pipeline["id"])
    wait_step_running(api, pipeline["id"], run["id"], "made")
    cluster.stop("immediate")
    time.sleep(2)  # long enough for the step to end and its record to fail
    cluster.start()

    runs = wait_until_ended(api, pipeline["id"])
    after = next(r for r in runs if r["id"] == run["id"])
    print(
        f"run after the restart: {after['status']}, steps {stored_status(cluster.url, run['id'])}"
    )
    assert after["status"] == "Succeeded", after
    expected = outputs(api, installation.warehouse, reference)
    assert outputs(api, installation.warehouse, after) == expected
    check_datasets(api, installation.warehouse)
    make_run(api, pipeline["id"])
    latest = wait_until_ended(api, pipeline["id"])[0]
    assert latest["status"] == "Succeeded", latest
    assert outputs(api, installation.warehouse, latest) == expected
    assert server.process.poll() is None, server.log_tail()
