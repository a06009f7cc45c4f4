"""The S3 mirror under HEADRACE_S3_CACHE_MAX_BYTES (moto): it stays under the limit while
versions are written and read, every version stays readable (evicted files are fetched
again), the files a running step reads are never evicted, and a run on a bounded mirror
succeeds."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import duckdb
import pytest

from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.settings import Settings
from headrace.storage.mirror import BoundedMirror, pinning
from headrace.storage.snapshots import TableCache
from headrace.storage.warehouse import Warehouse
from tests.execution.argo.as_argo import written_rows
from tests.execution.support import runtime_with
from tests.factories import Api
from tests.s3.test_runs import run_generated
from tests.storage.test_delta import read, write

VERSIONS = 6


def _bounded(s3_settings: Settings, tmp_path: Path, limit: int) -> Settings:
    """The session's store under a warehouse prefix of this test's own, with a fresh mirror
    of at most ``limit`` bytes."""
    bucket = s3_settings.effective_warehouse.removeprefix("s3://").split("/")[0]
    return s3_settings.model_copy(
        update={
            "warehouse": f"s3://{bucket}/bounded-{uuid.uuid4().hex[:8]}",
            "s3_cache_dir": tmp_path / "mirror",
            "s3_cache_max_bytes": limit,
        }
    )


def _bounded_table(s3_settings: Settings, tmp_path: Path, limit: int, versions: int) -> str:
    """A table of ``versions`` versions written through a mirror of at most ``limit``
    bytes, which stays under it after each write."""
    warehouse = Warehouse.from_settings(_bounded(s3_settings, tmp_path, limit))
    assert warehouse.store is not None
    table = warehouse.table(uuid.uuid4(), uuid.uuid4())
    for n in range(versions):
        assert write(table, _version_query(n)).version == n
        assert warehouse.store.bound.size() <= limit
    return table


def _version_query(n: int) -> str:
    return f"SELECT range + {n * 1000} AS id, repeat('x', 50) AS pad FROM range(500)"


def _ids(table: str, version: int) -> list[int]:
    return [r["id"] for r in read(table, version)]


@pytest.fixture
def file_size(s3_settings: Settings, tmp_path: Path) -> int:
    """The size of one version's file, measured on an unbounded mirror."""
    settings = _bounded(s3_settings, tmp_path / "probe", 10**9)
    table = Warehouse.from_settings(settings).table(uuid.uuid4(), uuid.uuid4())
    return write(table, _version_query(0)).bytes


def test_the_mirror_stays_under_its_limit_and_every_version_stays_readable(
    s3_settings: Settings, tmp_path: Path, file_size: int
) -> None:
    limit = 3 * file_size
    table = _bounded_table(s3_settings, tmp_path, limit, VERSIONS)
    bound = BoundedMirror(str(tmp_path / "mirror"), limit)
    for n in [*range(VERSIONS), 0]:  # the oldest were evicted: fetched again
        assert _ids(table, n) == list(range(n * 1000, n * 1000 + 500))
        assert bound.size() <= limit


def test_files_a_running_step_reads_are_never_evicted(
    s3_settings: Settings, tmp_path: Path, file_size: int
) -> None:
    limit = 2 * file_size
    table = _bounded_table(s3_settings, tmp_path, limit, VERSIONS)
    with pinning():  # as a step runs: its inputs are pinned until it ends
        inputs = TableCache().snapshot(table, 0).files
        others = threading.Thread(target=lambda: [_ids(table, n) for n in range(1, VERSIONS)])
        others.start()  # other reads in the same process fill the mirror meanwhile
        others.join()
        assert all(Path(f).exists() for f in inputs)
        con = duckdb.connect()
        try:
            count = con.execute(f"SELECT count(*) FROM read_parquet({inputs!r})").fetchone()
        finally:
            con.close()
        assert count == (500,)
    # Released, the step's files are the least recently used: the next read takes their room.
    assert _ids(table, 1)
    assert not all(Path(f).exists() for f in inputs)
    assert BoundedMirror(str(tmp_path / "mirror"), limit).size() <= limit


def test_a_run_on_a_bounded_mirror_succeeds_and_leaves_it_under_the_limit(
    s3_api: Api, db: Database, s3_settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    limit = 600  # under what the run writes (3 files): each step's own files may exceed it
    settings = _bounded(s3_settings, tmp_path, limit)
    with runtime_with(runtime, settings) as bounded:
        run = run_generated(s3_api, bounded)
    assert written_rows(settings, run, db)["total"] == [{"total": 90}]
    assert BoundedMirror(str(tmp_path / "mirror"), limit).size() <= limit
