"""The pool of ready step processes never hands out one that has ended while it waited."""

from __future__ import annotations

from headrace.execution.step_process import ReadyProcesses


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
