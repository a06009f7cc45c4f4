"""Commits the catalog never recorded: rolled back before a merge once past the grace period,
built on while younger, never rolled back twice, never over a newer commit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from headrace.storage import delta, unrecorded, upsert
from headrace.storage.duck import ServiceDuck
from tests.storage.test_delta import read, write

PAST = 0.0  # a grace period every commit made before the call is past
WITHIN = 3600.0


@pytest.fixture
def table(tmp_path: Path) -> str:
    path = tmp_path / "t"
    path.mkdir()
    return str(path)


def ids(table: str, version: int) -> list[int]:
    return sorted(r["id"] for r in read(table, version))


def merge(table: str, recorded: int | None, grace: float, row_id: int) -> delta.WrittenVersion:
    duck = ServiceDuck()
    try:
        return upsert.upsert(
            duck,
            table,
            [{"id": row_id}],
            "id",
            recorded=recorded,
            grace_seconds=grace,
            declared={},
            allow_new_columns=False,
            scratch=str(Path(table).parent / "scratch"),
        )
    finally:
        duck.close()


@pytest.fixture
def abandoned(table: str) -> str:
    """v0 recorded (ids 1, 2); v1 committed and never recorded (ids 10, 11)."""
    write(table, "SELECT unnest([1, 2])::BIGINT AS id")
    write(table, "SELECT unnest([10, 11])::BIGINT AS id")
    time.sleep(0.01)
    return table


def test_past_the_grace_period_the_commit_is_rolled_back_before_the_merge(abandoned: str) -> None:
    written = merge(abandoned, recorded=0, grace=PAST, row_id=3)
    assert written.version == 3  # v2 the rollback, v3 the merge: versions may have gaps
    assert ids(abandoned, 3) == [1, 2, 3]
    assert ids(abandoned, 2) == [1, 2]
    assert delta.commit_info(abandoned, 2)[unrecorded.ROLLBACK_TAG] == "0"
    assert ids(abandoned, 1) == [10, 11]  # older versions stay readable


def test_within_the_grace_period_the_merge_builds_on_the_newest_commit(abandoned: str) -> None:
    """It may be a live writer about to record it, as concurrent upserts are."""
    written = merge(abandoned, recorded=0, grace=WITHIN, row_id=3)
    assert written.version == 2
    assert ids(abandoned, 2) == [3, 10, 11]


def test_a_rollback_is_not_rolled_back_again(abandoned: str) -> None:
    first = unrecorded.settle(abandoned, 0, PAST)
    assert first.rolled_back == 1
    time.sleep(0.01)
    again = unrecorded.settle(abandoned, 0, PAST)
    assert again.rolled_back is None
    assert again.base is not None and again.base.version() == 2
    assert delta.current_version(abandoned) == 2


def test_a_rollback_never_lands_over_a_newer_commit(
    abandoned: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restore is based on the newest version it saw and is not retried: when another
    writer committed meanwhile it fails and the table is looked at again."""
    stale = DeltaTable(abandoned)  # v1, opened before another sweep rolls it back
    unrecorded.settle(abandoned, 0, PAST)
    opened = iter([stale])
    monkeypatch.setattr(delta, "open_table", lambda table: next(opened, None) or DeltaTable(table))
    settled = unrecorded.settle(abandoned, 0, PAST)
    assert settled.rolled_back is None
    assert delta.current_version(abandoned) == 2


def test_a_commit_newer_than_the_recorded_rollback_is_judged_again(abandoned: str) -> None:
    unrecorded.settle(abandoned, 0, PAST)  # v2: back to v0
    write(abandoned, "SELECT 20::BIGINT AS id")  # v3, never recorded either
    time.sleep(0.01)
    assert unrecorded.settle(abandoned, 0, WITHIN).rolled_back is None
    assert unrecorded.settle(abandoned, 0, PAST).rolled_back == 3
    assert ids(abandoned, 4) == [1, 2]


def test_with_no_recorded_version_an_abandoned_table_is_written_anew(table: str) -> None:
    """The dataset's first write was cut before its record: the next upsert holds only its
    own rows (an overwrite of what is there)."""
    write(table, "SELECT unnest([10, 11])::BIGINT AS id")
    time.sleep(0.01)
    written = merge(table, recorded=None, grace=PAST, row_id=3)
    assert (written.version, written.row_count) == (1, 1)
    assert ids(table, 1) == [3]


def test_with_no_recorded_version_a_young_table_is_merged_into(table: str) -> None:
    write(table, "SELECT unnest([10, 11])::BIGINT AS id")
    written = merge(table, recorded=None, grace=WITHIN, row_id=3)
    assert ids(table, written.version) == [3, 10, 11]


def test_a_recorded_newest_version_is_built_on(abandoned: str) -> None:
    assert unrecorded.settle(abandoned, 1, PAST).rolled_back is None
    assert ids(abandoned, merge(abandoned, recorded=1, grace=PAST, row_id=3).version) == [
        3,
        10,
        11,
    ]
