"""Every version stays readable however old: no write removes Delta log entries.

delta-rs, left to its defaults, deletes at each checkpoint the log entries older than the
table's logRetentionDuration (30 days) that come before the checkpoint, and those versions
stop opening. Here the log is aged 40 days, then each kind of write we make carries the
table over checkpoints (every 3 versions instead of 100, to keep it short). Tables we create
also say so in their properties (``delta.KEEP_LOG_CONFIGURATION``), for other writers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from deltalake import DeltaTable

from headrace.storage import delta, unrecorded
from headrace.storage.snapshots import brought_forward
from tests.storage.test_delta import copy_into, read, write
from tests.storage.test_unrecorded import PAST, merge

FORTY_DAYS = 40 * 24 * 3600


def _upload(table: str, n: int) -> None:
    write(table, f"SELECT {n}::BIGINT AS id")  # commit_copy writing its own checkpoint


def _step(table: str, n: int) -> None:
    # As a step commits: no checkpoint in the commit; the background thread writes it.
    base = delta.open_base(table)
    written = delta.commit_copy(
        table, copy_into(table, f"SELECT {n}::BIGINT AS id"), base=base, checkpoint=False
    )
    forward = brought_forward(table, base)
    assert forward is not None
    delta.checkpoint_if_due(forward, written.version)


def _upsert(table: str, n: int) -> None:
    merge(table, delta.current_version(table), PAST, n)


def _rollback(table: str, n: int) -> None:
    # A commit nobody recorded, rolled back (a restore) once past its grace period.
    recorded = delta.current_version(table)
    _upload(table, n)
    assert unrecorded.settle(table, recorded, PAST).rolled_back is not None


WRITERS: dict[str, Callable[[str, int], None]] = {
    "upload": _upload,
    "step": _step,
    "upsert": _upsert,
    "rollback": _rollback,
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_versions_older_than_the_log_retention_stay_readable(tmp_path: Path, writer: str) -> None:
    table = str(tmp_path / "t")
    _upload(table, 0)
    # Cleanup allowed by the table, as in a table made before we set it off at creation:
    # each write must refuse it itself.
    DeltaTable(table).alter.set_table_properties(
        {"delta.checkpointInterval": "3", "delta.enableExpiredLogCleanup": "true"}
    )
    for n in range(2, 7):
        _upload(table, n)
    # Versions 0-6 and their checkpoints (2 and 5) are 40 days old: past the retention.
    log = Path(table) / delta.LOG_FOLDER
    assert {p.name for p in log.glob("*.checkpoint.parquet")} >= {f"{5:020d}.checkpoint.parquet"}
    aged = time.time() - FORTY_DAYS
    for entry in log.iterdir():
        os.utime(entry, (aged, aged))
    old = {v: read(table, v) for v in range(7) if v != 1}  # 1 set a property: no data
    for n in range(7, 14):
        WRITERS[writer](table, n)
    newest = delta.current_version(table)
    assert newest is not None and newest >= 11  # past at least one more checkpoint
    assert {v: read(table, v) for v in old} == old
    for version in range(newest + 1):
        assert Path(delta.log_entry(table, version)).exists(), version
        assert DeltaTable(table, version=version).version() == version


def test_tables_we_create_forbid_other_writers_the_cleanup(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    _upload(table, 0)
    configuration = DeltaTable(table).metadata().configuration
    assert configuration.get("delta.enableExpiredLogCleanup") == "false"
