"""``headrace serve`` (with its in-process worker, on its default SQLite store) killed with
SIGKILL during an upload, during a run, and between a step's Delta commit and the record of
it; then started again over the same data folder and warehouse.

After each restart every run ends (a run left Running is taken over once its lease expires),
every recorded version is whole, a version committed but never recorded is not served, and
running or uploading again gives the same data."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.execution.support import wait_for
from tests.factories import Api, make_pipeline, make_run
from tests.reliability.invariants import (
    check_datasets,
    check_no_orphans,
    datasets_by_name,
    log_versions,
    outputs,
    recorded_versions,
    stored_status,
    table_of,
    wait_until_ended,
)
from tests.reliability.processes import Installation, ServerProcess
from tests.reliability.workload import csv_bytes, slow_steps, upload, wait_step_running


@pytest.fixture
def installation(sqlite_installation: Installation) -> Installation:
    return sqlite_installation


# Of an unrecorded commit in the upsert test: short, so the test need not wait minutes.
GRACE_SECONDS = 1.0


def _restarted(installation: Installation, killed: ServerProcess) -> ServerProcess:
    killed.kill()
    assert killed.process.returncode == -9
    return installation.start_server()


def test_killed_during_a_run(installation: Installation) -> None:
    server = installation.start_server()
    key, org = installation.new_org()
    api = server.api(key, org)
    pipeline = make_pipeline(api, slow_steps())
    make_run(api, pipeline["id"])
    reference = wait_until_ended(api, pipeline["id"])[0]
    run = make_run(api, pipeline["id"])
    wait_step_running(api, pipeline["id"], run["id"], "made")
    server.kill()
    # the kill landed while the step ran: nothing of it was recorded
    assert stored_status(installation.database_url, run["id"]) == ("Running", "Running", "Pending")
    server = installation.start_server()
    api = server.api(key, org)
    _check_recovered(api, installation, pipeline["id"], reference)


def test_killed_between_a_step_s_commit_and_its_record(installation: Installation) -> None:
    """The record is held back by a write lock on the metadata store, taken while the step
    runs: the step commits its Delta version, then waits to record it, and is killed there."""
    server = installation.start_server()
    key, org = installation.new_org()
    api = server.api(key, org)
    pipeline = make_pipeline(api, slow_steps())
    make_run(api, pipeline["id"])
    reference = wait_until_ended(api, pipeline["id"])[0]
    made = datasets_by_name(api)["made"]["id"]
    table = table_of(installation.warehouse, api, made)
    assert log_versions(table) == [0]
    run = make_run(api, pipeline["id"])
    wait_step_running(api, pipeline["id"], run["id"], "made")
    with _writes_held(installation.database_url):
        wait_for(lambda: log_versions(table) == [0, 1], timeout=60, what="the Delta commit")
        server.kill()
    server = _restarted(installation, server)
    api = server.api(key, org)
    _check_recovered(api, installation, pipeline["id"], reference)
    # v1: committed, never recorded; v2: the step again after the takeover; v3: the re-run
    assert [v["version"] for v in recorded_versions(api, made)] == [3, 2, 0]


def test_killed_during_an_upload(installation: Installation) -> None:
    content = csv_bytes(200_000)
    server = installation.start_server()
    key, org = installation.new_org()
    api = server.api(key, org)
    first = upload(api, "uploaded", csv_bytes(10))
    table = table_of(installation.warehouse, api, first["id"])

    # 1. while the body streams in
    sent = threading.Event()

    def body() -> Iterator[bytes]:
        yield _form_head("uploaded")
        yield content[: len(content) // 2]
        sent.set()
        time.sleep(30)  # the server is killed meanwhile; the request fails
        yield content[len(content) // 2 :]

    cut = threading.Thread(target=_post_form, args=(api, body()), daemon=True)
    cut.start()
    assert sent.wait(30)
    time.sleep(0.2)
    server = _restarted(installation, server)
    api = server.api(key, org)
    assert [v["version"] for v in recorded_versions(api, first["id"])] == [0]

    # 2. while the upload is written into the table
    whole = threading.Thread(
        target=_post_form, args=(api, iter([_form_head("uploaded"), content])), daemon=True
    )
    whole.start()
    wait_for(lambda: _write_folders(table) > 0 or not whole.is_alive(), timeout=60, what="a write")
    server = _restarted(installation, server)
    api = server.api(key, org)
    check_datasets(api, installation.warehouse)
    recorded = [v["version"] for v in recorded_versions(api, first["id"])]
    # killed before its record the upload is not there; killed after it, it is whole
    assert recorded in ([0], [1, 0]), recorded
    print(f"upload killed mid-write: recorded versions {recorded}, Delta log {log_versions(table)}")
    _check_swept(api, installation)

    # uploading again gives a whole new version with exactly the file's rows
    again = upload(api, "uploaded", content)
    assert again["row_count"] == 200_000
    check_datasets(api, installation.warehouse)


def test_an_upload_killed_before_its_record_is_not_merged_by_a_later_upsert(
    installation: Installation,
) -> None:
    """The upload's commit is unrecorded and past the grace period by the time the upsert
    comes: it is rolled back (by the restarted server's sweep or by the upsert itself) and
    the merge builds on the recorded version."""
    installation.settings["HEADRACE_UNRECORDED_GRACE_SECONDS"] = str(GRACE_SECONDS)
    server = installation.start_server()
    key, org = installation.new_org()
    api = server.api(key, org)
    first = upload(api, "merged", csv_bytes(10))
    table = table_of(installation.warehouse, api, first["id"])
    with _writes_held(installation.database_url):
        cut = threading.Thread(
            target=_post_form, args=(api, iter([_form_head("merged"), csv_bytes(20)])), daemon=True
        )
        cut.start()
        wait_for(lambda: log_versions(table) == [0, 1], timeout=60, what="the upload's commit")
        server.kill()
        killed = time.monotonic()
    server = _restarted(installation, server)
    api = server.api(key, org)
    time.sleep(max(0.0, killed + GRACE_SECONDS + 0.5 - time.monotonic()))
    r = api.put(
        "/datasets/upsert/",
        json={
            "dataset_name": "merged",
            "row_unique_identifier": "id",
            "data": [{"id": 100, "label": "new", "amount": 1.0}],
        },
    )
    assert r.status_code == 200, r.text
    # the recorded version's 10 rows and the new one; not the 20 of the upload never recorded
    assert r.json()["row_count"] == 11, r.json()
    # v1: the upload, never recorded; v2: the rollback to v0; v3: the upsert
    assert [v["version"] for v in recorded_versions(api, first["id"])] == [3, 0]
    assert log_versions(table) == [0, 1, 2, 3]
    check_datasets(api, installation.warehouse)
    _check_swept(api, installation)


def _check_recovered(
    api: Api, installation: Installation, pipeline_id: str, reference: dict[str, Any]
) -> None:
    runs = wait_until_ended(api, pipeline_id)
    assert all(r["status"] == "Succeeded" for r in runs), runs
    expected = outputs(api, installation.warehouse, reference)
    for run in runs:
        assert outputs(api, installation.warehouse, run) == expected
    check_datasets(api, installation.warehouse)
    _check_swept(api, installation)
    for run in runs:
        assert outputs(api, installation.warehouse, run) == expected
    # running it once more gives the same data again
    make_run(api, pipeline_id)
    latest = wait_until_ended(api, pipeline_id)[0]
    assert latest["status"] == "Succeeded"
    assert outputs(api, installation.warehouse, latest) == expected


def _check_swept(api: Api, installation: Installation) -> None:
    """What the kill left is swept: no orphan remains, every recorded version reads the same."""
    print(installation.sweep())
    check_no_orphans(api, installation.warehouse, installation.scratch)
    check_datasets(api, installation.warehouse)


def _write_folders(table: str) -> int:
    return sum(1 for p in Path(table).glob("w-*/*.parquet"))


@contextmanager
def _writes_held(database_url: str) -> Iterator[None]:
    """Hold the metadata store's write lock (SQLite: ``BEGIN IMMEDIATE``) until the block ends;
    readers go on, every writer waits."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                conn.execute(text("ROLLBACK"))
    finally:
        engine.dispose()


BOUNDARY = "headrace-fault-boundary"


def _form_head(name: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()


def _post_form(api: Api, parts: Iterator[bytes]) -> None:
    """POST an upload whose body (the form, then its closing boundary) streams from ``parts``;
    a request the server dies under just fails."""

    def body() -> Iterator[bytes]:
        yield from parts
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    with suppress(httpx.TransportError):
        api.post(
            "/datasets/",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
