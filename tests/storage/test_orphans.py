"""Unreferenced files of real Delta tables: every file a version names stays (older versions
included, and versions known only from a checkpoint); unreferenced ones go once old enough."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from headrace.storage import delta, orphans
from tests.storage.test_delta import copy_into, read, write

LATER = 3600.0  # a cut-off in the future: everything is old enough


@pytest.fixture
def table(tmp_path: Path) -> str:
    path = tmp_path / "t"
    path.mkdir()
    return str(path)


def rows(table: str, version: int) -> list[dict[str, object]]:
    return read(table, version)


def abandoned_write(table: str) -> str:
    """A write folder with a Parquet file no commit names (its writer died before it)."""
    [(path, *_)] = copy_into(table, "SELECT 99 AS n")
    return os.path.dirname(str(path))


def test_files_of_every_version_stay_and_an_abandoned_write_goes(table: str) -> None:
    write(table, "SELECT range AS n FROM range(3)")
    write(table, "SELECT 'x' AS s")  # an overwrite: v0's file is no longer in the newest version
    folder = abandoned_write(table)
    removed = orphans.remove_unreferenced(table, time.time() + LATER)
    assert [r.path for r in removed] == [os.path.join(folder, "part-0.parquet"), folder]
    assert not os.path.exists(folder)
    assert rows(table, 0) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert rows(table, 1) == [{"s": "x"}]
    assert sum(r.bytes for r in removed) > 0


def test_a_young_unreferenced_write_stays(table: str) -> None:
    write(table, "SELECT 1 AS n")
    folder = abandoned_write(table)
    assert orphans.remove_unreferenced(table, time.time() - 60) == []
    assert os.listdir(folder) == ["part-0.parquet"]


def test_an_empty_write_folder_of_a_running_step_stays_while_young(table: str) -> None:
    """A step may compute for a long time before its COPY creates the file."""
    write(table, "SELECT 1 AS n")
    folder = delta.new_write_folder(table)
    assert orphans.remove_unreferenced(table, time.time() - 60) == []
    assert os.path.isdir(folder)
    assert [r.path for r in orphans.remove_unreferenced(table, time.time() + LATER)] == [folder]


def test_a_merge_s_unreferenced_file_in_the_table_folder_goes(table: str) -> None:
    write(table, "SELECT 1::BIGINT AS id")
    DeltaTable(table).merge(
        pa.table({"id": [2]}),
        predicate="t.id = s.id",
        source_alias="s",
        target_alias="t",
    ).when_not_matched_insert_all().execute()
    stray = os.path.join(table, "part-00000-stray-c000.snappy.parquet")
    with open(stray, "wb") as f:
        f.write(b"PAR1")
    removed = orphans.remove_unreferenced(table, time.time() + LATER)
    assert [r.path for r in removed] == [stray]
    assert sorted(str(r["id"]) for r in rows(table, 1)) == ["1", "2"]


def test_files_named_only_by_a_checkpoint_stay(table: str) -> None:
    """Once the log is cleaned up, older commits are gone but the checkpoint still names
    the files (added, and removed as tombstones)."""
    write(table, "SELECT 1 AS n")
    write(table, "SELECT 2 AS n")
    before = orphans.referenced(table)
    DeltaTable(table).create_checkpoint()
    for version in (0, 1):
        os.remove(delta.log_entry(table, version))
    assert orphans.referenced(table) == before
    assert orphans.remove_unreferenced(table, time.time() + LATER) == []
    assert rows(table, 1) == [{"n": 2}]


def test_an_abandoned_folder_goes_whole_only_when_all_of_it_is_old(tmp_path: Path) -> None:
    folder = tmp_path / "orphan"
    (folder / "w-1").mkdir(parents=True)
    (folder / "w-1" / "part-0.parquet").write_bytes(b"x" * 10)
    assert orphans.remove_abandoned_folder(str(folder), time.time() - 60) is None
    removed = orphans.remove_abandoned_folder(str(folder), time.time() + LATER)
    assert removed == orphans.Removed(str(folder), 10)
    assert not folder.exists()


def test_old_staged_files_go_young_ones_stay(tmp_path: Path) -> None:
    old, young = tmp_path / "upload-old", tmp_path / "export-young.csv"
    old.write_bytes(b"abc")
    young.write_bytes(b"de")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    removed = orphans.remove_old_files(str(tmp_path), time.time() - 60)
    assert removed == [orphans.Removed(str(old), 3)]
    assert young.exists()
