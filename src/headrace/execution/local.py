"""The local executor: a run's steps in child processes of this worker, dependencies first.

Up to ``max_parallel_steps`` steps of a run run at once, each in a thread of this process
that drives the step's own child process (``StepRunner``). Each step records its own start
and end; what only the schedule knows (a step Omitted because an upstream step failed, a
step Cancelled before it began) is reported by ``poll`` for the worker to record. A poll
waits until a step ends, so a run moves on as soon as it can without spinning.
"""

from __future__ import annotations

import contextvars
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from headrace.domain.dag import Dag
from headrace.domain.records import RunRecord
from headrace.domain.runs import RunStatus, StepStatus, run_outcome
from headrace.execution.base import Observation, StepNotStartable, StepObservation
from headrace.execution.schedule import Schedule
from headrace.execution.status import local_metadata
from headrace.execution.step import Interrupt, StepOutcome, StepRunner
from headrace.logs import bound


@dataclass
class _Run:
    """One run in progress: its schedule, its running steps and what is left to report."""

    schedule: Schedule
    pool: ThreadPoolExecutor
    futures: dict[Future[StepOutcome], str] = field(default_factory=dict)
    interrupts: dict[str, Interrupt] = field(default_factory=dict)
    unreported: dict[str, StepObservation] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class LocalExecutor:
    """``Executor`` that runs steps here; ``graph_of`` gives a run's step graph."""

    def __init__(
        self,
        runner: StepRunner,
        graph_of: Callable[[RunRecord], Dag],
        *,
        max_parallel_steps: int,
        wait_seconds: float,
    ) -> None:
        self.runner = runner
        self.graph_of = graph_of
        self.max_parallel_steps = max(1, max_parallel_steps)
        self.wait_seconds = wait_seconds
        self._runs: dict[uuid.UUID, _Run] = {}

    paced = False
    kind = "local"

    def describe(self, run: RunRecord) -> dict[str, Any]:
        return local_metadata(run)

    def submit(self, run: RunRecord) -> Observation:
        schedule = Schedule(self.graph_of(run), {s.name: StepStatus(s.status) for s in run.steps})
        state = _Run(schedule, ThreadPoolExecutor(max_workers=self.max_parallel_steps))
        self._runs[run.id] = state
        return self._advance(run.id, state)

    def poll(self, run: RunRecord) -> Observation:
        state = self._runs[run.id]
        if state.futures:
            done, _ = wait(list(state.futures), self.wait_seconds, FIRST_COMPLETED)
            for future in done:
                name = state.futures.pop(future)
                state.interrupts.pop(name)
                state.schedule.ended(name, future.result().status)
        return self._advance(run.id, state)

    def cancel(self, run: RunRecord) -> None:
        state = self._runs[run.id]
        with state.lock:
            for interrupt in state.interrupts.values():
                interrupt.fire("cancelled")  # a step not started yet never starts
            for name in state.schedule.cancel_waiting():
                state.unreported[name] = StepObservation(StepStatus.CANCELLED)

    def release(self, run: RunRecord) -> None:
        """Wait for the run's step threads (a run given up mid-way, e.g. its lease lost)."""
        state = self._runs.pop(run.id, None)
        if state is not None:
            state.pool.shutdown(wait=True)

    def _advance(self, run_id: uuid.UUID, state: _Run) -> Observation:
        """Start the steps that may start; report what the steps do not record themselves."""
        with state.lock:
            for name in state.schedule.omitted():
                state.unreported[name] = StepObservation(StepStatus.OMITTED)
            for name in state.schedule.ready():
                interrupt = state.interrupts[name] = Interrupt()
                # in the run's context (its trace span), which threads do not inherit
                future = state.pool.submit(
                    contextvars.copy_context().run, self._run_step, run_id, name, interrupt
                )
                state.futures[future] = name
            reported, state.unreported = state.unreported, {}
        finished = not state.futures
        return Observation(
            phase=_phase(state.schedule) if finished else "Running",
            finished=finished,
            steps=reported,
        )

    def _run_step(self, run_id: uuid.UUID, name: str, interrupt: Interrupt) -> StepOutcome:
        try:
            with bound(run_id=run_id, step=name):  # a new thread: it starts with no fields
                return self.runner.run(run_id, name, interrupt)
        except StepNotStartable as err:  # it ended meanwhile: its downstream steps wait no more
            return StepOutcome(StepStatus.CANCELLED, str(err))


def _phase(schedule: Schedule) -> str:
    """The run's end in Argo's words, from what its steps did."""
    outcome = run_outcome(list(schedule.status.values()))
    return outcome.value if outcome in (RunStatus.SUCCEEDED, RunStatus.ERROR) else "Failed"
