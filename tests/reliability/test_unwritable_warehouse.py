"""The warehouse folder made read-only (``chmod -R a-w``) while a step runs.

Root ignores file permissions, and the tests run as root in CI, so the server is started
without the capabilities that let root do so (``setpriv`` drops ``CAP_DAC_OVERRIDE``,
``CAP_DAC_READ_SEARCH`` and ``CAP_FOWNER`` from its bounding set): it still runs as root and
owns every file, but mode bits now bind it as they bind any user. The run must end ``Error``
(the system failed, not the step's SQL), an upload meanwhile must be refused without a new
version, and once the folder is writable again a retry gives the same data."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import make_pipeline, make_run
from tests.reliability.invariants import check_datasets, datasets_by_name, outputs, wait_until_ended
from tests.reliability.processes import Installation
from tests.reliability.workload import csv_bytes, slow_steps, upload, wait_step_running

WITHOUT_ROOT_FILE_ACCESS = (
    ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]
    if os.geteuid() == 0
    else []
)


@pytest.fixture
def installation(sqlite_installation: Installation) -> Iterator[Installation]:
    if WITHOUT_ROOT_FILE_ACCESS and (
        shutil.which("setpriv") is None
        or subprocess.run([*WITHOUT_ROOT_FILE_ACCESS, "true"], check=False).returncode != 0
    ):
        pytest.skip("root cannot drop CAP_DAC_OVERRIDE here (setpriv missing or refused)")
    yield sqlite_installation
    if sqlite_installation.warehouse.exists():
        _writable(sqlite_installation.warehouse, True)  # so that pytest can remove it


def _writable(folder: Path, writable: bool) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | 0o200 if writable else mode & ~0o222)


def test_warehouse_made_unwritable_mid_run(installation: Installation) -> None:
    server = installation.start_server(prefix=WITHOUT_ROOT_FILE_ACCESS)
    key, org = installation.new_org()
    api = server.api(key, org)
    kept = upload(api, "kept", csv_bytes(10))
    pipeline = make_pipeline(api, slow_steps())
    make_run(api, pipeline["id"])
    reference = wait_until_ended(api, pipeline["id"])[0]
    assert reference["status"] == "Succeeded", reference

    run = make_run(api, pipeline["id"])
    wait_step_running(api, pipeline["id"], run["id"], "made")
    _writable(installation.warehouse, False)
    failed = wait_until_ended(api, pipeline["id"])[0]
    refused = api.post(
        "/datasets/", data={"name": "kept"}, files={"file": ("kept.csv", csv_bytes(5), "text/csv")}
    )
    made = next(s for s in failed["run_steps"] if s["name"] == "made")
    print(
        f"unwritable warehouse: run {failed['status']}, step made {made['status']}: "
        f"{made['error']}; upload meanwhile {refused.status_code}: {refused.text[:200]}"
    )
    assert failed["status"] == "Error", failed
    assert [s["status"] for s in failed["run_steps"]] == ["Error", "Omitted"]
    assert "Permission denied" in made["error"] or "permission" in made["error"].lower()
    assert refused.status_code >= 500, refused.text
    # Starlette re-raises an unexpected error after its 500 is sent, and uvicorn then drops
    # the connection: carry on over a new one.
    api = server.api(key, org)
    assert datasets_by_name(api)["kept"]["current_version"] == kept["current_version"]
    check_datasets(api, installation.warehouse)

    _writable(installation.warehouse, True)
    r = api.post(f"/pipelines/{pipeline['id']}/runs/{run['id']}/retry/")
    assert r.status_code == 201, r.text
    retried = wait_until_ended(api, pipeline["id"])[0]
    assert retried["id"] == r.json()["id"] and retried["status"] == "Succeeded", retried
    assert outputs(api, installation.warehouse, retried) == outputs(
        api, installation.warehouse, reference
    )
    check_datasets(api, installation.warehouse)
