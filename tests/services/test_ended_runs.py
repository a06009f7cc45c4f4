"""The JSON kept of ended runs: only ended runs, within its bytes, guarded by the status."""

from __future__ import annotations

import uuid

from headrace.domain.records import RunHead
from headrace.services.ended_runs import EndedRuns


def test_ended_runs_keeps_only_ended_runs_within_its_bytes() -> None:
    kept = EndedRuns(max_bytes=10)
    pending, done, later, unfinished = (uuid.uuid4() for _ in range(4))
    kept.put(pending, "Pending", b"p", finished=False)
    kept.put(unfinished, "Succeeded", b"u", finished=False)  # no end time yet: not kept
    kept.put(done, "Succeeded", b"123456", finished=True)
    assert kept.get([RunHead(pending, "Pending"), RunHead(unfinished, "Succeeded")]) == {}
    assert kept.get([RunHead(done, "Succeeded")]) == {done: b"123456"}
    # The row must still say what the JSON was made from.
    assert kept.get([RunHead(done, "Failed")]) == {}
    kept.put(later, "Failed", b"abcdef", finished=True)  # 12 bytes: the least recently used goes
    heads = [RunHead(done, "Succeeded"), RunHead(later, "Failed")]
    assert kept.get(heads) == {later: b"abcdef"}
    kept.put(uuid.uuid4(), "Failed", b"x" * 11, finished=True)  # larger than the whole cache
    assert kept.get(heads) == {later: b"abcdef"}
