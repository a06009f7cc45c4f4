"""A run's status changes as a stream of events that a client can resume.

The metadata store keeps no history of changes, so an event id does not point into one: it
*is* the state the client has seen, the run's status and every step's status in one letter
each, after a sequence number (``"7-RSSRP"``). A reconnecting client sends it back as
``Last-Event-ID`` and gets exactly the changes between that state and the current one: no
gap, and nothing it has seen again. Many changes between two polls become one event each.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

from headrace.domain.access import Principal
from headrace.domain.records import RunRecord, VersionRecord
from headrace.domain.runs import RunStatus
from headrace.errors import NotFound
from headrace.persistence.db import Database
from headrace.persistence.repositories import pipelines as pipelines_repo
from headrace.persistence.repositories import run_progress
from headrace.persistence.repositories import runs as runs_repo
from headrace.services.pipelines import load as load_pipeline

_LETTER = {
    "Pending": "P",
    "Running": "R",
    "Succeeded": "S",
    "Failed": "F",
    "Error": "E",
    "Cancelled": "C",
    "Skipped": "K",
    "Omitted": "O",
}
_STATUS = {letter: status for status, letter in _LETTER.items()}


@dataclass(frozen=True)
class Progress:
    """The statuses of a run and of its steps (in position order)."""

    run: str
    steps: tuple[tuple[str, str], ...]

    def event_id(self, seq: int) -> str:
        return f"{seq}-{_LETTER[self.run]}{''.join(_LETTER[s] for _, s in self.steps)}"

    @classmethod
    def of(cls, run: RunRecord) -> Progress:
        return cls(run.status, tuple((s.name, s.status) for s in run.steps))

    @classmethod
    def parse(cls, event_id: str, step_names: list[str]) -> tuple[int, Progress] | None:
        """The sequence number and state an id stands for; None unless it fits this run."""
        seq, _, letters = event_id.strip().partition("-")
        if not seq.isdigit() or len(letters) != len(step_names) + 1:
            return None
        if any(letter not in _STATUS for letter in letters):
            return None
        statuses = [_STATUS[letter] for letter in letters]
        return int(seq), cls(statuses[0], tuple(zip(step_names, statuses[1:], strict=True)))


@dataclass(frozen=True)
class Change:
    """One event: the run's own status changed (``step`` None), or one step's did.
    ``whole``: the first event of a fresh stream, which carries the whole run."""

    event_id: str
    step: str | None
    whole: bool = False


@dataclass(frozen=True)
class Poll:
    changes: list[Change]
    run: RunRecord | None = None
    version: VersionRecord | None = None  # loaded only for a whole-run event


@dataclass
class RunWatch:
    """Follows one run for one stream; ``poll()`` costs two small queries while nothing
    changes."""

    db: Database
    run_id: uuid.UUID
    seen: Progress | None
    seq: int = 0
    ended: bool = False
    status: str | None = field(default=None)

    def poll(self) -> Poll:
        with self.db.unit_of_work(write=False) as conn:
            found = run_progress.statuses(conn, self.run_id)
            if found is None:  # deleted with its pipeline
                self.ended = True
                return Poll([])
            if self.seen is not None and Progress(found[0], tuple(found[1])) == self.seen:
                self._note(self.seen)
                return Poll([])
            run = runs_repo.get_by_id(conn, self.run_id)
            assert run is not None
            version = None
            if self.seen is None:
                version = pipelines_repo.versions_by_id(conn, [run.version_id], self.db.versions)[
                    run.version_id
                ]
        current = Progress.of(run)
        changes = self._changes(current)
        self._note(current)
        return Poll(changes, run, version)

    def _note(self, current: Progress) -> None:
        self.seen = current
        self.status = current.run
        self.ended = RunStatus(current.run).terminal

    def _changes(self, current: Progress) -> list[Change]:
        """One change per status that differs from what the client has seen: the run's start
        first, then the steps in order, then the run's end."""
        if self.seen is None:
            self.seq += 1
            return [Change(current.event_id(self.seq), None, whole=True)]
        state = self.seen
        changes: list[Change] = []

        def emit(new: Progress, step: str | None) -> Progress:
            self.seq += 1
            changes.append(Change(new.event_id(self.seq), step))
            return new

        run_moved = current.run != state.run
        ending = RunStatus(current.run).terminal
        if run_moved and not ending:
            state = emit(replace(state, run=current.run), None)
        for i, (name, status) in enumerate(current.steps):
            if state.steps[i][1] != status:
                steps = (*state.steps[:i], (name, status), *state.steps[i + 1 :])
                state = emit(replace(state, steps=steps), name)
        if run_moved and ending:
            emit(replace(state, run=current.run), None)
        return changes


def watch(
    db: Database,
    who: Principal,
    pipeline_id: uuid.UUID,
    run_id: uuid.UUID,
    last_event_id: str | None,
) -> RunWatch:
    """A watch of the run, resumed after ``last_event_id`` when it is one of this run's ids
    (any other value starts afresh, with the whole run)."""
    with db.unit_of_work(write=False) as conn:
        load_pipeline(conn, who, pipeline_id)
        run = runs_repo.get(conn, pipeline_id, run_id)
    if run is None:
        raise NotFound(f"there is no run {run_id} of this pipeline")
    resumed = Progress.parse(last_event_id, [s.name for s in run.steps]) if last_event_id else None
    if resumed is None:
        return RunWatch(db, run_id, seen=None)
    seq, seen = resumed
    return RunWatch(db, run_id, seen=seen, seq=seq)
