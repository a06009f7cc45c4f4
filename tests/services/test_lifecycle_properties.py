"""The lifecycle under random sequences of what happens to runs: claims by two workers,
steps started and ended (also by a worker that has lost its lease), backends reporting steps,
cancels, lease expiries, run ends and retries. After every action the metadata store and its
event outbox must hold the invariants below; an action the state machine refuses must have
written nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from headrace.domain.access import Principal, Role
from headrace.domain.records import RunRecord, RunRef
from headrace.domain.runs import (
    RUN_TRANSITIONS,
    STEP_TRANSITIONS,
    IllegalTransition,
    RunStatus,
    StepStatus,
    final_outcome,
)
from headrace.execution.base import StepEnd, StepNotStartable, StepStart
from headrace.execution.status import local_metadata
from headrace.persistence.db import Database
from headrace.persistence.repositories import events as events_repo
from headrace.persistence.repositories import runs as runs_repo
from headrace.persistence.tables import run_events
from headrace.services import runs as runs_service
from headrace.services.graphs import VersionGraphs
from headrace.services.lifecycle import LeaseLost, Lifecycle, StepReport
from headrace.services.step_store import DatabaseStepStore
from headrace.settings import Settings
from tests.factories import Api, diamond_steps, make_pipeline
from tests.stress import scaled

STEPS = ("src", "left", "right", "join")
WORKERS = ("w1", "w2")
LEASE = 30.0
ENDS = (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.ERROR, StepStatus.CANCELLED)
REPORTED = (StepStatus.OMITTED, StepStatus.CANCELLED, StepStatus.RUNNING, *ENDS)
PHASES = ("Succeeded", "Failed", "Error")

actions = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), st.sampled_from(WORKERS)),
        st.tuples(st.just("begin"), st.sampled_from(STEPS)),
        st.tuples(st.just("end"), st.sampled_from(STEPS), st.sampled_from(ENDS)),
        st.tuples(st.just("report"), st.sampled_from(STEPS), st.sampled_from(REPORTED)),
        st.tuples(st.just("heartbeat"), st.sampled_from(WORKERS)),
        st.tuples(st.just("cancel")),
        st.tuples(st.just("expire")),
        st.tuples(st.just("finish"), st.sampled_from(PHASES), st.booleans()),
        st.tuples(st.just("retry")),
        st.tuples(st.just("pick"), st.integers(min_value=0, max_value=3)),
        # a careless caller: any status for a step or the run, from the one it has
        st.tuples(st.just("move"), st.sampled_from(STEPS), st.sampled_from(list(StepStatus))),
        st.tuples(st.just("move_run"), st.sampled_from(list(RunStatus))),
    ),
    max_size=30,
)


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class World:
    db: Database
    settings: Settings
    who: Principal
    pipeline_id: uuid.UUID
    clock: Clock
    lifecycle: Lifecycle
    store: DatabaseStepStore
    runs: list[uuid.UUID]
    current: uuid.UUID
    started: dict[tuple[uuid.UUID, str], StepStart] = field(default_factory=dict)

    def run(self) -> RunRecord:
        with self.db.unit_of_work(write=False) as conn:
            found = runs_repo.get_by_id(conn, self.current)
        assert found is not None
        return found

    def act(self, action: tuple[Any, ...]) -> None:
        kind, *args = action
        run = self.run()
        ref = RunRef.of(run)
        if kind == "claim":
            self.lifecycle.claim(args[0], LEASE, skip_locked=False, only=run.id)
        elif kind == "begin":
            self.started[(run.id, args[0])] = self.store.begin(run.id, args[0], "started")
        elif kind == "end":
            start = self.started.get((run.id, args[0]))
            if start is not None:
                self.store.end(start, StepEnd(args[1], error=f"ended {args[1]}"))
        elif kind == "report":
            self.lifecycle.report(ref, {args[0]: StepReport(args[1])})
        elif kind == "heartbeat":
            self.lifecycle.heartbeat(run.id, args[0], LEASE)
        elif kind == "cancel":
            with self.db.unit_of_work() as conn:
                self.lifecycle.cancel(conn, run)
        elif kind == "expire":
            self.clock.now += dt.timedelta(seconds=LEASE + 1)
        elif kind == "finish":
            phase, stopped = args

            def outcome(steps: list[StepStatus]) -> RunStatus:
                return final_outcome(phase, steps, stopped=stopped)

            self.lifecycle.finish(ref, outcome, describe=local_metadata)
        elif kind == "retry":
            view = runs_service.retry(self.db, self.settings, self.who, self.pipeline_id, run.id)
            self.runs.append(view.run.id)
            self.current = view.run.id
        elif kind == "pick":
            self.current = self.runs[args[0] % len(self.runs)]
        elif kind == "move":
            old = StepStatus(next(s.status for s in run.steps if s.name == args[0]))
            with self.db.unit_of_work() as conn:
                self.lifecycle.move_step(conn, ref, args[0], old, args[1])
        elif kind == "move_run":
            with self.db.unit_of_work() as conn:
                self.lifecycle.move_run(conn, ref, RunStatus(run.status), args[0])


def _events(db: Database, run_ids: list[uuid.UUID]) -> list[Any]:
    with db.unit_of_work() as conn:
        events_repo.newest(conn)  # every committed row numbered, as a reader of it would
        return list(
            conn.execute(
                select(run_events)
                .where(run_events.c.run_id.in_(run_ids))
                .order_by(run_events.c.seq)
            )
        )


def _check(world: World) -> None:
    """The invariants, over every run of the world and its whole event history."""
    events = _events(world.db, world.runs)
    last: dict[tuple[uuid.UUID, str | None], str | None] = {}
    starts: Counter[tuple[uuid.UUID, str]] = Counter()
    handed_back: Counter[tuple[uuid.UUID, str]] = Counter()
    for e in events:
        key = (e.run_id, e.step_name)
        old, new = e.old_status, e.new_status
        if e.step_name is None:
            if old is None:  # the run's creation
                assert key not in last and new == RunStatus.PENDING
            else:  # statuses only move forward, and terminal is final
                assert RunStatus(new) in RUN_TRANSITIONS.get(RunStatus(old), frozenset())
        else:
            assert StepStatus(new) in STEP_TRANSITIONS.get(StepStatus(old), frozenset())
            if (old, new) == (StepStatus.PENDING, StepStatus.RUNNING):
                starts[(e.run_id, e.step_name)] += 1
            if (old, new) == (StepStatus.RUNNING, StepStatus.PENDING):
                handed_back[(e.run_id, e.step_name)] += 1
        if key in last:  # each change starts where the one before ended: nothing unrecorded
            assert last[key] == old, (key, last[key], old)
        last[key] = new
    for run_id in world.runs:
        with world.db.unit_of_work(write=False) as conn:
            run = runs_repo.get_by_id(conn, run_id)
        assert run is not None
        status = RunStatus(run.status)
        assert last[(run_id, None)] == run.status  # the outbox tells the whole story
        assert (run.finished_at is None) == (not status.terminal)
        for step in run.steps:
            step_status = StepStatus(step.status)
            assert last.get((run_id, step.name), run.steps and step.status) == step.status
            assert (step.finished_at is None) == (not step_status.terminal)
            if status.terminal:  # an ended run has no open step
                assert step_status.terminal, (run.status, step.name, step.status)
            # each step starts at most once, unless a takeover handed it back to be run again
            assert starts[(run_id, step.name)] <= 1 + handed_back[(run_id, step.name)]


def _snapshot(world: World) -> tuple[int, list[tuple[str, str]]]:
    events = _events(world.db, world.runs)
    with world.db.unit_of_work(write=False) as conn:
        runs = runs_repo.get_many(conn, world.runs)
    return len(events), sorted(
        (str(r.id), r.status + "".join(s.status for s in r.steps)) for r in runs
    )


EXAMPLES = scaled(60, 1000)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=actions)
def test_random_lifecycles_keep_the_invariants(
    api: Api, db: Database, settings: Settings, sequence: list[tuple[Any, ...]]
) -> None:
    pipeline = make_pipeline(api, diamond_steps())
    who = Principal(org_id=uuid.UUID(api.org_id), key_id=uuid.uuid4(), role=Role.BUILDER)
    view = runs_service.create(
        db, settings, who, uuid.UUID(pipeline["id"]), start=None, end=None, version_id=None
    )
    clock = Clock()
    lifecycle = Lifecycle(db, clock)
    world = World(
        db,
        settings,
        who,
        uuid.UUID(pipeline["id"]),
        clock,
        lifecycle,
        DatabaseStepStore(db, VersionGraphs(db.versions), lifecycle=lifecycle),
        [view.run.id],
        view.run.id,
    )
    _check(world)
    for action in sequence:
        before = _snapshot(world)
        try:
            world.act(action)
        except (IllegalTransition, StepNotStartable, LeaseLost):
            assert _snapshot(world) == before  # refused: nothing written
        except Exception as err:  # the services' own refusals (retry of a running run...)
            assert type(err).__name__ in ("Conflict", "InvalidInput"), err
            assert _snapshot(world) == before
        _check(world)
