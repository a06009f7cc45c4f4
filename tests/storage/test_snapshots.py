"""The bases kept for the next write: brought forward after our own commit in the background
(with the checkpoint the commit skipped), and still brought forward when another process
committed since."""

from __future__ import annotations

import threading
from pathlib import Path

from headrace.storage import delta
from headrace.storage.snapshots import TableCache
from tests.storage.test_delta import copy_into, read, write


def _commit(cache: TableCache, table: str, query: str) -> delta.WrittenVersion:
    """A write as a step makes it: base from the cache, COPY, commit, base given back."""
    base = cache.take_base(table)
    written = delta.commit_copy(table, copy_into(table, query), base=base)
    cache.give_back(table, base, written)
    return written


def test_writes_through_one_cache_follow_each_other(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    write(table, "SELECT 0 AS n")
    cache = TableCache()
    versions = [_commit(cache, table, f"SELECT {i} AS n").version for i in range(1, 5)]
    assert versions == [1, 2, 3, 4]
    assert read(table, 4) == [{"n": 4}]


def test_a_commit_made_elsewhere_since_is_seen_before_the_next_write(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    write(table, "SELECT 0 AS n")
    mine, theirs = TableCache(), TableCache()  # as two worker processes would hold
    assert _commit(mine, table, "SELECT 1 AS n").version == 1
    assert _commit(theirs, table, "SELECT 2 AS n").version == 2
    assert write(table, "SELECT 3 AS n").version == 3  # a third writer, no cache at all
    # Our kept base is at version 1: the next write must build on 3, not fail or overwrite it.
    base = mine.take_base(table)
    assert base is not None and base.version() == 3
    written = delta.commit_copy(table, copy_into(table, "SELECT 4 AS n"), base=base)
    assert written.version == 4
    assert [read(table, v) for v in range(5)] == [[{"n": v}] for v in range(5)]


def _leave_checkpoint_to(cache: TableCache, table: str) -> Path:
    """Versions 0-99 of ``table``, 99 (one delta-rs checkpoints) committed without its
    checkpoint and given back to ``cache``; where the checkpoint is to be written."""
    write(table, "SELECT 0 AS n")
    for i in range(1, 99):
        _commit(cache, table, f"SELECT {i} AS n")
    base = cache.take_base(table)
    written = delta.commit_copy(
        table, copy_into(table, "SELECT 99 AS n"), base=base, checkpoint=False
    )
    assert written.version == 99
    checkpoint = Path(table) / delta.LOG_FOLDER / f"{99:020d}.checkpoint.parquet"
    assert not checkpoint.exists()  # the commit itself does not write it
    cache.give_back(table, base, written)
    return checkpoint


def test_the_checkpoint_a_step_commit_skips_is_written_in_the_background(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    cache = TableCache()
    checkpoint = _leave_checkpoint_to(cache, table)
    cache.settle()  # as a process waiting for its checkpoints does
    assert checkpoint.exists()
    assert read(table, 99) == [{"n": 99}]


def test_closing_the_cache_writes_the_checkpoint_left_to_it_and_ends_its_thread(
    tmp_path: Path,
) -> None:
    before = set(threading.enumerate())
    cache = TableCache()
    checkpoint = _leave_checkpoint_to(cache, str(tmp_path / "t"))
    started = [t for t in threading.enumerate() if t not in before]
    assert [t.name for t in started] == ["headrace-delta-bases"]
    cache.close()  # as the runtime of a process about to exit does (an Argo pod's)
    assert checkpoint.exists()
    assert not started[0].is_alive()
