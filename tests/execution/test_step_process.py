"""The pool of ready step processes: never hands out one that has ended while it waited, keeps
exactly as many ready as it is sized for, and never makes an exit wait for one booting."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import duckdb
import pytest

from headrace.execution import step_process
from headrace.execution.sandbox import SandboxLimits
from headrace.execution.step_process import ReadyProcesses, SqlJob, StepProcess
from tests.execution.support import wait_for


def test_a_waiting_process_killed_from_outside_is_replaced() -> None:
    pool = ReadyProcesses(size=1)
    try:
        first = pool.take()
        pool.give_back(first)
        first.proc.kill()  # as the kernel's OOM killer would, while it waits
        first.proc.wait()
        second = pool.take()
        assert second is not first
        assert second.proc.poll() is None
        pool.give_back(second)
    finally:
        pool.close()


def _children() -> set[int]:
    """The live step processes this process started."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"headrace.execution.step_process" in command:
            found.add(int(entry.name))
    return found


def test_the_pool_keeps_size_children_counting_those_out_on_a_step() -> None:
    before = _children()
    pool = ReadyProcesses(size=2)
    try:
        pool.start()
        wait_for(lambda: pool._ready.full(), timeout=60, what="two ready children")
        time.sleep(1)  # time enough for a third to boot, were one started
        assert len(_children() - before) == 2
        child = pool.take()  # out on a step, coming back: nothing boots to replace it
        time.sleep(1)
        assert len(_children() - before) == 2
        pool.give_back(child)
        assert pool._ready.full() and child.proc.poll() is None
        lost = pool.take()
        lost.interrupt()  # stopped mid-step (timeout, cancel): it does not come back
        pool.give_back(lost)
        assert lost.proc.poll() is not None
        wait_for(lambda: pool._ready.full(), timeout=60, what="the lost one replaced")
        assert len(_children() - before) == 2
    finally:
        pool.close()
    assert _children() - before == set()


def test_a_step_beaten_to_the_booting_child_starts_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """More steps at once than the pool holds: of two steps waiting for the child being
    booted, the one that does not get it starts its own instead of waiting out
    ``BOOT_SECONDS`` for a boot that never comes (none is started: both count as out)."""
    monkeypatch.setattr(step_process, "BOOT_SECONDS", 3600)
    pool = ReadyProcesses(size=1)
    taken: list[StepProcess] = []
    try:
        pool.start()
        wait_for(lambda: pool._booting is not None, timeout=10, what="a child booting")
        steps = [threading.Thread(target=lambda: taken.append(pool.take()), daemon=True)]
        steps.append(threading.Thread(target=lambda: taken.append(pool.take()), daemon=True))
        for step in steps:
            step.start()
        for step in steps:
            step.join(timeout=120)
        assert len(taken) == 2 and taken[0] is not taken[1]
    finally:
        for child in taken:
            pool.give_back(child)
        pool.close()


def test_closing_ends_a_child_still_booting_instead_of_waiting_for_it() -> None:
    before = _children()
    pool = ReadyProcesses(size=1)
    pool.start()
    wait_for(lambda: pool._booting is not None, timeout=10, what="a child booting")
    booting = pool._booting
    assert booting is not None
    pool.close()
    assert booting.proc.poll() is not None
    assert _children() - before == set()


def test_a_closed_pool_gives_each_step_its_own_process_and_keeps_none() -> None:
    pool = ReadyProcesses(size=2)
    pool.close()  # as `headrace step exec` does: a pod runs one step
    child = pool.take()
    assert child.proc.poll() is None
    pool.give_back(child)
    assert child.proc.poll() is not None
    assert pool._ready.empty()


def test_a_process_killed_for_its_memory_is_never_reused(tmp_path: Path) -> None:
    """It dies only once the kernel has freed its memory; until then it looks alive, and
    was once handed to the next step (which then failed with 'exit -9')."""
    pool = ReadyProcesses(size=1)
    try:
        child = pool.take()
        limits = SandboxLimits(memory_limit="1MB", threads=1)  # killed past ~514 MiB
        job = SqlJob("SELECT lpad('x', 2000000000, 'y') AS s", {}, {}, limits, str(tmp_path))
        with pytest.raises(duckdb.OutOfMemoryException):
            child.run(job)
        assert not child.reusable()
        pool.give_back(child)
        assert pool._ready.empty() or pool._ready.queue[0] is not child
    finally:
        pool.close()


def test_a_child_is_sized_once_it_has_let_go_of_its_steps_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after a large step the child still holds that step's memory, which closing its
    database gives back (10 M orders: 739-992 MB at the answer, 72-87 MB after). Judged then,
    it was ended and a new one booted beside the next steps for nothing. Here its size is
    large until it has said it let go, and small after."""
    large = step_process.RECYCLE_BYTES + 1
    taken: list[StepProcess] = []
    monkeypatch.setattr(
        step_process, "_resident_bytes", lambda pid: large if any(c._settling for c in taken) else 1
    )
    pool = ReadyProcesses(size=1)
    try:
        child = pool.take()
        taken.append(child)
        folder = tmp_path / "out"
        folder.mkdir()
        limits = SandboxLimits(memory_limit="1GB", threads=1)
        job = SqlJob("SELECT 1 AS n", {}, {"n": str(folder)}, limits, str(tmp_path))
        child.run(job)
        pool.give_back(child)
        assert pool.take() is child  # judged once it said it had let go: small
        child.run(job)
        pool.give_back(child)
        monkeypatch.setattr(step_process, "_resident_bytes", lambda pid: large)
        other = pool.take()  # still large once it has let go: ended, not reused
        assert other is not child
        assert child.proc.wait(timeout=10) is not None
        pool.give_back(other)
    finally:
        pool.close()
