"""Which steps of a run start, and which are omitted or cancelled, as its steps end."""

from __future__ import annotations

from headrace.domain.dag import Dag
from headrace.domain.pipeline import DataTransform, Step
from headrace.domain.runs import StepStatus
from headrace.execution.schedule import Schedule

P, R, S, F = StepStatus.PENDING, StepStatus.RUNNING, StepStatus.SUCCEEDED, StepStatus.FAILED
K, OM, C = StepStatus.SKIPPED, StepStatus.OMITTED, StepStatus.CANCELLED


def _dag(edges: dict[str, list[str]]) -> Dag:
    """Steps named by the keys, each reading the outputs of the steps listed for it."""
    return Dag.build(
        [
            Step(name, DataTransform("SELECT 1", tuple(f"{u}_out" for u in ups), (f"{name}_out",)))
            for name, ups in edges.items()
        ]
    )


# a -> b -> d, a -> c -> d, e alone
DIAMOND = _dag({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []})


def _fresh(dag: Dag) -> Schedule:
    return Schedule(dag, {s.name: P for s in dag.steps})


def test_steps_start_when_every_upstream_step_succeeded() -> None:
    schedule = _fresh(DIAMOND)
    assert schedule.ready() == ["a", "e"]
    assert schedule.ready() == []  # each given once
    schedule.ended("a", S)
    assert schedule.ready() == ["b", "c"]
    schedule.ended("b", S)
    assert schedule.ready() == []  # d still waits for c
    schedule.ended("c", S)
    assert schedule.ready() == ["d"]
    assert schedule.status == {"a": S, "b": S, "c": S, "d": R, "e": R}
    assert schedule.omitted() == []


def test_a_failed_step_omits_everything_downstream_of_it() -> None:
    schedule = _fresh(DIAMOND)
    schedule.ready()
    schedule.ended("a", F)
    assert sorted(schedule.omitted()) == ["b", "c", "d"]
    assert schedule.status == {"a": F, "b": OM, "c": OM, "d": OM, "e": R}
    assert schedule.ready() == []


def test_a_failure_downstream_leaves_the_other_branch_running() -> None:
    schedule = _fresh(DIAMOND)
    schedule.ready()
    schedule.ended("a", S)
    schedule.ready()
    schedule.ended("b", F)
    assert schedule.omitted() == ["d"]
    schedule.ended("c", S)
    assert schedule.ready() == []
    assert schedule.status["d"] is OM


def test_a_taken_over_run_continues_from_what_had_ended() -> None:
    # a succeeded and c failed before the worker died; b was running (now Pending again).
    schedule = Schedule(DIAMOND, {"a": S, "b": P, "c": F, "d": P, "e": S})
    assert schedule.omitted() == ["d"]
    assert schedule.ready() == ["b"]


def test_reused_outputs_count_as_done_and_steps_outside_the_run_are_not_waited_for() -> None:
    # A partial run from c: a was skipped (its output reused); b is not in the run.
    schedule = Schedule(DIAMOND, {"a": K, "c": P, "d": P})
    assert schedule.ready() == ["c"]
    schedule.ended("c", S)
    assert schedule.ready() == ["d"]


def test_cancelling_cancels_what_has_not_started() -> None:
    schedule = _fresh(DIAMOND)
    assert schedule.ready() == ["a", "e"]
    schedule.ended("a", S)  # b and c are ready but not taken yet
    assert sorted(schedule.cancel_waiting()) == ["b", "c", "d"]
    assert schedule.ready() == []
    assert schedule.status == {"a": S, "b": C, "c": C, "d": C, "e": R}


def test_a_long_chain_is_scheduled_step_by_step() -> None:
    names = [f"s{i}" for i in range(10_000)]
    chain = _dag({name: names[i - 1 : i] for i, name in enumerate(names)})
    schedule = _fresh(chain)
    for name in names:
        assert schedule.ready() == [name]
        schedule.ended(name, S)
    assert set(schedule.status.values()) == {S}
