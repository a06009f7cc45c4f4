"""The runtime: everything long-lived of a process, shared with no other runtime, ended once
by ``close()``."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from headrace.api.app import create_app
from headrace.domain.pipeline import step_from_dict
from headrace.execution.step_process import ReadyProcesses
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.services import keys, pipelines
from headrace.settings import Settings
from headrace.storage import delta
from tests.execution.support import wait_for
from tests.storage.test_delta import copy_into


def _settings(tmp_path: Path, db: Database) -> Settings:
    return Settings(data_dir=tmp_path, database_url=db.url, run_worker=False)


def test_two_runtimes_in_one_process_share_no_cache(tmp_path: Path, db: Database) -> None:
    settings = _settings(tmp_path, db)
    with Runtime(settings) as one, Runtime(settings) as other:
        principal = keys.authenticate(one.db, keys.create_org(one.db, "org").secret, None)
        step = step_from_dict("s", {"query": "SELECT 1 AS n", "output_datasets": ["d"]})
        made = pipelines.create(one.db, principal, "p", "", [step])
        assert made.current_version is not None
        version = made.current_version.id
        pipelines.get_version(one.db, principal, made.pipeline.id, version)
        assert one.db.versions.get(version) is not None
        assert other.db.versions.get(version) is None
        # Each has its own service DuckDB: a table made in one is not in the other.
        con = one.duck.connect()
        con.execute("CREATE TABLE mine AS SELECT 1 AS n")
        con.close()
        theirs = other.duck.connect()
        with pytest.raises(duckdb.CatalogException):
            theirs.execute("SELECT * FROM mine")
        theirs.close()
        assert one.ended_runs is not other.ended_runs
        assert one.tables is not other.tables
        assert one.steps is not other.steps
        assert one.graphs is not other.graphs


def _children() -> set[int]:
    """The live child processes of this process."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except FileNotFoundError:  # the thread ended while we looked
            continue
    return found


def test_close_ends_every_thread_and_process_it_started_once(tmp_path: Path, db: Database) -> None:
    before, children = set(threading.enumerate()), _children()
    runtime = Runtime.open(_settings(tmp_path, db), worker=True)  # step processes boot now
    wait_for(lambda: len(_children() - children) >= 2, 60, "the step processes kept ready")
    table = str(tmp_path / "t")
    for query in ("SELECT 1 AS n", "SELECT 2 AS n"):  # the second write hands its base on
        base = runtime.tables.take_base(table)
        written = delta.commit_copy(table, copy_into(table, query), base=base)
        runtime.tables.give_back(table, base, written)
    started = [t for t in threading.enumerate() if t not in before]
    assert started  # the thread bringing the table's base forward
    runtime.close()
    runtime.close()  # a second close does nothing
    assert runtime.closed
    assert [t for t in started if t.is_alive()] == []
    assert _children() - children == set()
    with pytest.raises(RuntimeError):
        runtime.duck.connect()


def test_what_is_handed_in_stays_open(tmp_path: Path, db: Database) -> None:
    steps = ReadyProcesses()
    with Runtime(_settings(tmp_path, db), db, steps=steps) as runtime:
        assert runtime.steps is steps
    child = steps.take()  # still a working pool: it was the giver's to close
    steps.give_back(child)
    steps.close()
    with db.unit_of_work(write=False) as conn:  # and the store still serves
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1


def test_an_app_closes_the_runtime_it_built_and_leaves_a_given_one_open(
    tmp_path: Path, db: Database
) -> None:
    settings = _settings(tmp_path, db)
    own = create_app(settings)
    with TestClient(own) as client:
        assert client.get("/healthz").status_code == 200
        assert not own.state.runtime.closed
    assert own.state.runtime.closed
    with Runtime(settings, db) as given:
        with TestClient(create_app(settings, given)) as client:
            assert client.get("/healthz").status_code == 200
        assert not given.closed
