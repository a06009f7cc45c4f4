"""Which steps of a run may start, as its steps end.

A step starts once every upstream step of the run has succeeded (or was skipped, its output
reused); a step that ends otherwise omits everything downstream of it. Each ended step
updates only its downstream steps' counts, so a whole run costs time linear in its steps and
edges, where a pass over every step after each ended one would be quadratic in the steps.
"""

from __future__ import annotations

from headrace.domain.dag import Dag
from headrace.domain.runs import StepStatus

# Steps in these statuses count as done for the steps downstream of them.
SATISFIED = frozenset({StepStatus.SUCCEEDED, StepStatus.SKIPPED})


class Schedule:
    """The statuses of a run's steps (``status``, in run order) and what follows from them.
    Steps of the version that are not in the run (a partial run) are not waited for."""

    def __init__(self, dag: Dag, status: dict[str, StepStatus]) -> None:
        self.status = status
        self._downstream = {
            name: [d for d in dag.downstream.get(name, ()) if d in status] for name in status
        }
        self._waiting: dict[str, int] = {}
        self._ready: list[str] = []
        self._omitted: list[str] = []
        for name, state in status.items():
            if state is StepStatus.PENDING:
                ups = [u for u in dag.upstream.get(name, ()) if u in status]
                self._waiting[name] = sum(1 for u in ups if status[u] not in SATISFIED)
        for name, state in status.items():
            if state.terminal and state not in SATISFIED:
                self._omit_downstream(name)
        for name, count in list(self._waiting.items()):
            if count == 0:
                self._start(name)

    def ready(self) -> list[str]:
        """The steps that may start now (each given once), marked Running."""
        ready, self._ready = self._ready, []
        return ready

    def omitted(self) -> list[str]:
        """The steps newly Omitted (each given once), for the caller to record."""
        omitted, self._omitted = self._omitted, []
        return omitted

    def ended(self, name: str, state: StepStatus) -> None:
        """Step ``name`` ended in ``state``: its downstream steps start or are omitted."""
        self.status[name] = state
        if state not in SATISFIED:
            self._omit_downstream(name)
            return
        for down in self._downstream[name]:
            if down in self._waiting:
                self._waiting[down] -= 1
                if self._waiting[down] == 0:
                    self._start(down)

    def cancel_waiting(self) -> list[str]:
        """Cancel every step that has not started (those ready but not taken too)."""
        cancelled = [*self._ready, *self._waiting]
        for name in cancelled:
            self.status[name] = StepStatus.CANCELLED
        self._ready, self._waiting = [], {}
        return cancelled

    def _start(self, name: str) -> None:
        del self._waiting[name]
        self.status[name] = StepStatus.RUNNING
        self._ready.append(name)

    def _omit_downstream(self, name: str) -> None:
        stack = [name]
        while stack:
            for down in self._downstream[stack.pop()]:
                if down in self._waiting:
                    del self._waiting[down]
                    self.status[down] = StepStatus.OMITTED
                    self._omitted.append(down)
                    stack.append(down)
