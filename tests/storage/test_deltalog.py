"""A local table's log read and extended by name: the state of every version is deltalake's,
a write and a read never list ``_delta_log``, a lost race fails cleanly, and what the reader
does not follow is left to deltalake."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from headrace.storage import delta, deltalog
from tests.storage.test_delta import copy_into, read, write
from tests.storage.test_unrecorded import PAST, merge


@pytest.fixture
def table(tmp_path: Path) -> str:
    path = tmp_path / "t"
    path.mkdir()
    return str(path)


def _checkpoint_every(table: str, versions: int) -> None:
    DeltaTable(table).alter.set_table_properties({"delta.checkpointInterval": str(versions)})


def _unlistable(table: str) -> None:
    """A log entry no listing gets past: a symbolic link to itself."""
    os.symlink("loop", Path(table) / delta.LOG_FOLDER / "loop")
    with pytest.raises(OSError, match="symbolic links"):
        DeltaTable(table)  # the trap works: deltalake lists the log to open a table


def test_every_version_reads_as_deltalake_reads_it(table: str) -> None:
    write(table, "SELECT 1::BIGINT AS id")
    _checkpoint_every(table, 3)  # checkpoints at 2, 5, 8, ...: most versions replay commits
    for n in range(2, 6):
        write(table, f"SELECT unnest([{n}, {n + 10}])::BIGINT AS id")
    merge(table, delta.current_version(table), PAST, 99)  # copy-on-write: removes and adds
    write(table, "SELECT 'text' AS s")  # a new schema
    write(table, "SELECT 'empty' AS s WHERE false")  # no files at all
    newest = delta.current_version(table)
    assert newest == DeltaTable(table).version() == 8
    log = Path(table) / delta.LOG_FOLDER
    assert any(p.name.endswith(".checkpoint.parquet") for p in log.iterdir())
    for version in range(newest + 1):
        state = deltalog.load(table, version)
        expected = DeltaTable(table, version=version)
        assert state is not None and state.version() == version
        assert sorted(state.uris()) == sorted(expected.file_uris()), version
        assert state.arrow_schema() == pa.schema(expected.schema().to_arrow()), version
        assert state.readable()


def test_a_table_opens_commits_and_reads_without_listing_its_log(table: str) -> None:
    for n in range(5):
        write(table, f"SELECT {n}::BIGINT AS id")
    _checkpoint_every(table, 2)
    write(table, "SELECT 6::BIGINT AS id")  # version 6, after checkpoints at 5 (and 3, 1)
    _unlistable(table)
    assert delta.current_version(table) == 6
    base = delta.open_base(table)
    assert base is not None and base.version() == 6
    written = delta.commit_copy(
        table, copy_into(table, "SELECT 7::BIGINT AS id"), base=base, checkpoint=False
    )
    assert written.version == 7
    assert delta.current_version(table) == 7
    assert [read(table, v) for v in range(8) if v != 5] == [
        [{"id": n}] for n in (0, 1, 2, 3, 4, 6, 7)
    ]
    assert read(table, 5) == [{"id": 4}]  # version 5 set a property


def test_a_commit_another_writer_made_first_fails_and_leaves_no_trace(table: str) -> None:
    write(table, "SELECT 0::BIGINT AS id")
    mine, theirs = delta.open_base(table), delta.open_base(table)
    assert isinstance(mine, deltalog.TableState) and isinstance(theirs, deltalog.TableState)
    delta.commit_copy(table, copy_into(table, "SELECT 1::BIGINT AS id"), base=theirs)
    with pytest.raises(delta.CommitFailedError):
        delta.commit_copy(table, copy_into(table, "SELECT 2::BIGINT AS id"), base=mine)
    assert delta.current_version(table) == 1
    assert read(table, 1) == [{"id": 1}]
    assert sorted(p.name for p in (Path(table) / delta.LOG_FOLDER).iterdir()) == [
        f"{0:020d}.json",
        f"{1:020d}.json",
    ]


def test_a_commit_read_by_name_is_one_deltalake_reads_back(table: str) -> None:
    write(table, "SELECT 0::BIGINT AS id, 'a' AS s")
    base = delta.open_base(table)
    assert isinstance(base, deltalog.TableState)
    delta.commit_copy(table, copy_into(table, "SELECT 1::BIGINT AS id, 'b' AS s"), base=base)
    info = delta.commit_info(table, 1)
    assert info["operation"] == "WRITE" and info["operationParameters"]["mode"] == "Overwrite"
    assert info["engineInfo"].startswith("headrace-")  # ours, not deltalake's
    dt = DeltaTable(table)
    assert dt.version() == 1
    assert dt.to_pyarrow_table().to_pylist() == [{"id": 1, "s": "b"}]
    assert dt.count() == 1  # numRecords in the statistics
    assert [h["operation"] for h in dt.history()] == ["WRITE", "CREATE OR REPLACE TABLE"]


def test_a_checkpoint_due_on_a_commit_read_by_name_is_written(table: str) -> None:
    write(table, "SELECT 0::BIGINT AS id")
    _checkpoint_every(table, 3)
    write(table, "SELECT 2::BIGINT AS id")  # version 2: the checkpoint is written
    for n in range(3, 6):
        write(table, f"SELECT {n}::BIGINT AS id")  # version 5: one is due again
    assert (Path(table) / delta.LOG_FOLDER / f"{5:020d}.checkpoint.parquet").exists()
    assert read(table, 5) == [{"id": 5}]


def test_a_partitioned_table_is_left_to_deltalake(table: str) -> None:
    write_deltalake(table, pa.table({"id": [1, 2], "p": ["a", "b"]}), partition_by=["p"])
    assert deltalog.load(table, 0) is None
    assert sorted(delta.snapshot(table, 0).files) == sorted(DeltaTable(table).file_uris())
