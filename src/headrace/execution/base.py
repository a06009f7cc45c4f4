"""The seams between a claimed run and whatever executes it.

``Executor`` is the one small protocol every backend implements: the local executor
(``execution/local.py``: the run's steps in child processes of this worker) and the Argo
executor (``execution/argo/executor.py``: a Workflow on a cluster). It starts a run
(``submit``), reports what it sees (``poll``) and stops it on request (``cancel``). The worker
(``services/worker.py``) drives that loop for any backend and records what it learns through
the lifecycle; it knows neither backend.

``StepStore`` is the other way round: what a step needs of the metadata store (its
definition and pinned inputs at the start, the record of its end), implemented by the
services for the step runner, which runs in a local worker or in an Argo pod alike.
Neither seam lets ``execution`` open a transaction or import the persistence layer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from headrace.domain.pipeline import Step
from headrace.domain.quota import StorageQuota
from headrace.domain.records import RunRecord, RunRef, RunStepRecord
from headrace.domain.runs import StepStatus

if TYPE_CHECKING:
    from headrace.storage.delta import WrittenVersion


@dataclass(frozen=True)
class StepObservation:
    """What the backend says of one step. ``recorded``: the step's own runner has already
    recorded this status itself (the local executor's steps do), so there is nothing to
    write for it."""

    status: StepStatus
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    message: str | None = None
    recorded: bool = False


@dataclass(frozen=True)
class Observation:
    """What the backend says of one run at one moment.

    ``phase`` is the backend's own word for the run (Argo's workflow phase); the run's status
    follows from it and the steps' records (``domain.runs.final_outcome``). ``metadata`` is
    what the run's ``argo_metadata`` should say; None when the backend has nothing of its own
    to say and the metadata is built from the recorded steps."""

    phase: str
    finished: bool
    message: str | None = None
    steps: Mapping[str, StepObservation] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None


class BackendError(Exception):
    """The backend failed (unreachable, refused the run): the run ends Error with this
    message, keeping every status already seen."""


class Executor(Protocol):
    """A backend that runs a whole claimed run."""

    kind: str  # what ``argo_metadata.executor`` says: "local", "argo"
    # True when each poll waits a fixed interval (the worker renews its lease and reads the
    # cancel flag at every poll); False when a poll returns as soon as a step ends (the
    # worker then does that at most every half second, off the path between steps).
    paced: bool

    def describe(self, run: RunRecord) -> dict[str, Any] | None:
        """The run's ``argo_metadata`` as it is claimed (None: keep what it says)."""
        ...

    def submit(self, run: RunRecord) -> Observation:
        """Start the run; submitting a run that was already submitted must not start it twice."""
        ...

    def poll(self, run: RunRecord) -> Observation:
        """The run's state after the backend's own wait (a poll interval, or until a step
        ends)."""
        ...

    def cancel(self, run: RunRecord) -> None:
        """Ask the backend to stop the run; ``poll`` shows when it has."""
        ...

    def release(self, run: RunRecord) -> None:
        """Let go of what the backend holds for the run (threads, connections): called once
        its follow ends, however it ends."""
        ...


@dataclass(frozen=True)
class StepStart:
    """What a step needs to run, read when it was marked Running: its run, its definition,
    the rows of the steps of its run that write its inputs (what they wrote is what it
    reads), the id and current version of each dataset it names that exists, and its
    organisation's storage quota and usage (None: no quota), which its outputs must fit."""

    run: RunRef
    step: Step
    started_at: dt.datetime  # which run of the step this is (a step may be run again)
    writers: Mapping[str, RunStepRecord]
    datasets: Mapping[str, tuple[uuid.UUID, int | None]]
    quota: StorageQuota | None = None
    # The run's parameter values as DuckDB binds them (``domain.parameters.typed``).
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class StepEnd:
    """What a step reports at its end, written in one transaction."""

    status: StepStatus
    error: str | None = None
    input_versions: dict[str, int] | None = None
    output_versions: dict[str, int] | None = None
    rows_written: int | None = None
    bytes_written: int | None = None
    # (dataset id, the version committed) for each output
    written: list[tuple[uuid.UUID, WrittenVersion]] = field(default_factory=list)
    checks: list[dict[str, Any]] | None = None  # CheckResult.to_dict() of each check run
    lines: list[tuple[dt.datetime, str]] = field(default_factory=list)


class StepNotStartable(Exception):
    """The step is not waiting to run (it ended, or its run was cancelled meanwhile)."""


class StepStore(Protocol):
    """The metadata a step runner reads and writes (``services/step_store.py``)."""

    def begin(self, run_id: uuid.UUID, step_name: str, line: str) -> StepStart:
        """Mark the step Running (logging ``line``) and read what it needs; raises
        ``LookupError`` for an unknown run or step, ``StepNotStartable`` when it is not
        Pending."""
        ...

    def ensure_dataset(self, org_id: uuid.UUID, name: str) -> uuid.UUID:
        """The id of an output dataset, created empty when it does not exist yet."""
        ...

    def end(self, start: StepStart, end: StepEnd) -> None:
        """Record the end of the step ``start`` began: its status, what it read and wrote,
        its log lines."""
        ...
