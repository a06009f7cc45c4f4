"""Selection of a partial run and the execution plan it compiles to: pure data."""

from __future__ import annotations

import re

import pytest

from headrace.domain.dag import Dag
from headrace.domain.pipeline import DataTransform, Step
from headrace.execution.plan import SelectionError, compile_plan, select

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def step(name: str, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] | None = None) -> Step:
    return Step(name, DataTransform("SELECT 1", inputs, outputs or (f"{name}_out",)))


#      src
#     /   \
#  left   right      lone (independent)
#     \   /
#      join
STEPS = [
    step("src", (), ("s",)),
    step("left", ("s",), ("l",)),
    step("right", ("s", "upload"), ("r",)),
    step("join", ("l", "r"), ("j",)),
    step("lone", (), ("o",)),
]
DAG = Dag.build(STEPS)
ALL = {"src", "left", "right", "join", "lone"}


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (None, None, ALL),
        ("src", None, {"src", "left", "right", "join"}),
        ("left", None, {"left", "join"}),
        (None, "left", {"src", "left"}),
        (None, "join", {"src", "left", "right", "join"}),
        ("src", "join", {"src", "left", "right", "join"}),
        ("src", "right", {"src", "right"}),
        ("left", "join", {"left", "join"}),
        ("join", "join", {"join"}),
        ("lone", None, {"lone"}),
        (None, "lone", {"lone"}),
    ],
)
def test_select(start: str | None, end: str | None, expected: set[str]) -> None:
    assert select(DAG, start, end) == expected


@pytest.mark.parametrize(
    ("start", "end", "problems"),
    [
        ("nope", None, {(("body", "start_job_name"), "run.unknown_step")}),
        (None, "nope", {(("body", "end_job_name"), "run.unknown_step")}),
        (
            "x",
            "y",
            {
                (("body", "start_job_name"), "run.unknown_step"),
                (("body", "end_job_name"), "run.unknown_step"),
            },
        ),
        ("left", "right", {(("body", "end_job_name"), "run.empty_selection")}),
        ("join", "src", {(("body", "end_job_name"), "run.empty_selection")}),
        ("lone", "join", {(("body", "end_job_name"), "run.empty_selection")}),
    ],
)
def test_select_refuses(
    start: str | None, end: str | None, problems: set[tuple[tuple[str, ...], str]]
) -> None:
    with pytest.raises(SelectionError) as err:
        select(DAG, start, end)
    assert {(p.loc, p.type) for p in err.value.problems} == problems


def test_whole_plan() -> None:
    plan = compile_plan(STEPS, ALL)
    order = [s.name for s in plan.steps]
    assert order.index("src") < order.index("left") < order.index("join")
    assert order.index("right") < order.index("join")
    assert {s.name: set(s.depends) for s in plan.steps} == {
        "src": set(),
        "left": {"src"},
        "right": {"src"},
        "join": {"left", "right"},
        "lone": set(),
    }
    assert plan.skipped == ()
    assert plan.external_inputs == ("upload",)
    assert plan.step("join").inputs == ("l", "r")
    assert plan.step("join").outputs == ("j",)
    with pytest.raises(KeyError):
        plan.step("nope")


def test_partial_plan_depends_only_on_selected_steps() -> None:
    plan = compile_plan(STEPS, {"left", "join"})
    assert [s.name for s in plan.steps] == ["left", "join"]
    assert plan.step("left").depends == ()
    assert plan.step("join").depends == ("left",)
    assert set(plan.skipped) == {"src", "right", "lone"}
    # read from outside the run: what unselected steps write, and uploads
    assert set(plan.external_inputs) == {"s", "r"}


def test_plan_is_pure_and_repeatable() -> None:
    assert compile_plan(STEPS, {"src", "right"}) == compile_plan(STEPS, {"right", "src"})


NASTY = [
    "a_b",
    "a-b",
    "A_B",
    "A-b",
    "_lead",
    "1st",
    "9",
    "true",
    "and",
    "x" * 255,
    "x" * 254 + "y",
    "UPPER",
    "trailing_",
    "trailing-",
    "___",
]


def test_task_names_are_unique_dns_labels() -> None:
    steps = [step(n, (), (f"out{i}",)) for i, n in enumerate(NASTY)]
    plan = compile_plan(steps, set(NASTY))
    names = [s.task_name for s in plan.steps]
    assert len(set(names)) == len(names)
    for name in names:
        assert DNS_LABEL.match(name), name
        assert len(name) <= 63, name


def test_plain_step_names_are_their_own_task_names() -> None:
    plan = compile_plan([step("load-orders"), step("total2")], {"load-orders", "total2"})
    assert [s.task_name for s in plan.steps] == ["load-orders", "total2"]


def test_a_step_keeps_its_task_name_in_partial_runs() -> None:
    steps = [step(n, (), (f"out{i}",)) for i, n in enumerate(NASTY)]
    whole = {s.name: s.task_name for s in compile_plan(steps, set(NASTY)).steps}
    for name in NASTY:
        (only,) = compile_plan(steps, {name}).steps
        assert only.task_name == whole[name], name
