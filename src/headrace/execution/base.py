"""The seam between a claimed run and a backend that executes it somewhere else.

A backend takes the run's stored manifest (``submit``), reports what it sees (``poll``) and
stops it on request (``cancel``); the worker that claimed the run drives that loop and records
what it learns (``execution/argo/follow.py``). The local executor needs no such seam: the
worker runs the steps itself (``execution/worker.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from headrace.domain.records import RunRecord
from headrace.domain.runs import StepStatus


@dataclass(frozen=True)
class StepObservation:
    """What the backend says of one step."""

    status: StepStatus
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    message: str | None = None


@dataclass(frozen=True)
class Observation:
    """What the backend says of one run at one moment.

    ``phase`` is the backend's own word for the run (Argo's workflow phase); turning it into a
    run status needs more than the backend knows (did we ask for the stop? what did the steps
    record themselves?), so that is left to the caller.
    """

    phase: str
    finished: bool
    message: str | None = None
    steps: Mapping[str, StepObservation] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    """A backend that runs a whole run's manifest."""

    def submit(self, run: RunRecord) -> Observation:
        """Start the run; submitting a run that was already submitted must not start it twice."""
        ...

    def poll(self, run: RunRecord) -> Observation:
        """The run's state now."""
        ...

    def cancel(self, run: RunRecord) -> None:
        """Ask the backend to stop the run; ``poll`` shows when it has."""
        ...
