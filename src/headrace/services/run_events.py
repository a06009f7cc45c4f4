"""A run's status changes as a stream of events that a client can resume: a reader of the
event outbox (``persistence/repositories/events.py``).

Each event's id is its place in the outbox's read order (``seq``), the same in every API process: a
client that reconnects to any of them with ``Last-Event-ID`` gets the run's events after that
one, each once and in order. A fresh stream starts with the whole run, under the id of the
run's newest event. A ``Last-Event-ID`` that is not one of ours (not a number, or longer than
any) is refused with a 422: a browser or our client only ever sends back an id it was sent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

from headrace.domain.access import Principal
from headrace.domain.problems import Problem
from headrace.domain.records import RunRecord, VersionRecord
from headrace.domain.runs import RunStatus, StepStatus
from headrace.errors import InvalidInput, NotFound
from headrace.persistence.db import Database
from headrace.persistence.repositories import events as events_repo
from headrace.persistence.repositories import pipelines as pipelines_repo
from headrace.persistence.repositories import runs as runs_repo
from headrace.persistence.repositories.events import RunEvent
from headrace.services.pipelines import load as load_pipeline

# Outbox ids are 64-bit: 19 digits at most.
_MAX_ID_DIGITS = 19


@dataclass(frozen=True)
class Change:
    """One event: the run as it was after it (``run``: its own status moved, or ``step``
    moved; ``whole``: the first event of a fresh stream, the whole run)."""

    event_id: str
    run: RunRecord
    step: str | None = None
    whole: bool = False


@dataclass(frozen=True)
class Poll:
    changes: list[Change]
    version: VersionRecord | None = None  # loaded only for a whole-run event


@dataclass
class RunWatch:
    """Follows one run for one stream from ``cursor``, the id of the last event sent (None:
    nothing sent yet). ``poll()`` costs one small query while nothing changes."""

    db: Database
    run_id: uuid.UUID
    cursor: int | None
    ended: bool = False
    status: str | None = field(default=None)

    def poll(self) -> Poll:
        with self.db.unit_of_work(write=False) as conn:
            if self.cursor is None:
                # The cursor first: the run read after it is at least as new, so a change
                # committed in between is sent again rather than missed.
                cursor = events_repo.last_of_run(conn, self.run_id)
                run = runs_repo.get_by_id(conn, self.run_id)
                if run is None:  # deleted with its pipeline
                    self.ended = True
                    return Poll([])
                self.cursor = cursor
                version = pipelines_repo.versions_by_id(conn, [run.version_id], self.db.versions)[
                    run.version_id
                ]
                self.status = run.status
                self.ended = RunStatus(run.status).terminal
                return Poll([Change(str(self.cursor), run, whole=True)], version)
            events = events_repo.of_run(conn, self.run_id, self.cursor)
            run = runs_repo.get_by_id(conn, self.run_id)
            if run is None:
                self.ended = True
                return Poll([])
            if events:
                self.cursor = events[-1].id
            # The events of a change commit with it, but on PostgreSQL they may not have
            # their place yet (another reader is placing them) when the run is read as
            # ended: the stream ends once every event of the run has been sent.
            self.status = run.status
            self.ended = RunStatus(run.status).terminal and events_repo.all_placed_by(
                conn, self.run_id, self.cursor
            )
        return Poll([_change(run, event) for event in events])


def _change(run: RunRecord, event: RunEvent) -> Change:
    """The run as the event left it: its status (or the step's) as the event says, the other
    fields as they are now, and no end for what had not ended then."""
    status = event.new
    if event.step is None:
        terminal = RunStatus(status).terminal
        moved = replace(run, status=status, finished_at=run.finished_at if terminal else None)
        return Change(str(event.id), moved)
    step_status = StepStatus(status)
    steps = [
        replace(
            s,
            status=status,
            started_at=None if step_status is StepStatus.PENDING else s.started_at,
            finished_at=s.finished_at if step_status.terminal else None,
            error=s.error if step_status.terminal else None,
        )
        if s.name == event.step
        else s
        for s in run.steps
    ]
    return Change(str(event.id), replace(run, steps=steps), step=event.step)


def watch(
    db: Database,
    who: Principal,
    pipeline_id: uuid.UUID,
    run_id: uuid.UUID,
    last_event_id: str | None,
) -> RunWatch:
    """A watch of the run, resumed after ``last_event_id`` (422 unless it is an event id)."""
    cursor = _cursor(last_event_id)
    with db.unit_of_work(write=False) as conn:
        load_pipeline(conn, who, pipeline_id)
        run = runs_repo.get(conn, pipeline_id, run_id)
    if run is None:
        raise NotFound(f"there is no run {run_id} of this pipeline")
    return RunWatch(db, run_id, cursor=cursor)


def _cursor(last_event_id: str | None) -> int | None:
    if last_event_id is None:
        return None
    text = last_event_id.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_ID_DIGITS:
        raise InvalidInput(
            "Last-Event-ID must be the id of an event this stream sent",
            [Problem(("header", "Last-Event-ID"), "not an event id", "events.bad_last_event_id")],
        )
    return int(text)
