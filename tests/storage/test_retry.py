"""One policy for a commit that lost the race to another writer: retried on a fresh base,
with random waits, for as long as the patience lasts; on real tables, every racer lands."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from deltalake.exceptions import CommitFailedError

from headrace.storage import delta, retry
from tests.storage.test_delta import copy_into, read, write


def test_a_lost_race_is_retried_on_a_fresh_base_until_it_lands() -> None:
    losses = iter(range(12))  # more than any fixed count a writer used to allow

    def commit(base: int) -> str:
        if next(losses, None) is not None:
            raise CommitFailedError("another writer committed first")
        return f"landed on {base}"

    waits: list[float] = []
    result, base = retry.until_committed(commit, 0, lambda b: b + 1, sleep=waits.append)
    assert (result, base) == ("landed on 12", 12)
    assert len(waits) == 12
    assert all(0 <= w <= retry.MAX_WAIT_SECONDS for w in waits)


def test_past_its_patience_the_last_lost_race_is_raised() -> None:
    now = [0.0]

    def commit(_: None) -> None:
        now[0] += 25  # each attempt takes long
        raise CommitFailedError("another writer committed first")

    with pytest.raises(CommitFailedError):
        retry.until_committed(commit, None, lambda b: b, clock=lambda: now[0], sleep=lambda _: None)
    assert now[0] == 75  # tried at 25 and 50 (within the 60 s), gave up after 75


def test_any_other_error_is_not_retried() -> None:
    calls = []

    def commit(_: None) -> None:
        calls.append(1)
        raise OSError("disk full")

    with pytest.raises(OSError):
        retry.until_committed(commit, None, lambda b: b, sleep=lambda _: None)
    assert calls == [1]


def test_many_writers_racing_on_one_table_all_land(tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    write(table, "SELECT 0 AS n")
    ready = threading.Barrier(8)
    landed: list[int] = []

    def writer(n: int) -> None:
        base = delta.open_base(table)
        files = copy_into(table, f"SELECT {n} AS n")
        ready.wait(30)  # every base is at version 0 before anyone commits
        written, _ = retry.until_committed(
            lambda b: delta.commit_copy(table, files, base=b),
            base,
            lambda _: delta.open_base(table),
        )
        landed.append(written.version)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(landed) == list(range(1, 9))
    assert sorted(read(table, v)[0]["n"] for v in range(1, 9)) == list(range(1, 9))
