"""The step graph: edges from dataset names, cycles, topological order, closures."""

from __future__ import annotations

from headrace.domain.dag import Dag
from headrace.domain.pipeline import DataTransform, Step


def step(name: str, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] | None = None) -> Step:
    outs = outputs if outputs is not None else (f"{name}_out",)
    return Step(name, DataTransform("SELECT 1", inputs, outs))


DIAMOND = [
    step("join", ("l", "r"), ("j",)),
    step("left", ("s",), ("l",)),
    step("src", (), ("s",)),
    step("right", ("s",), ("r",)),
]


def test_edges_follow_dataset_names() -> None:
    dag = Dag.build(DIAMOND)
    assert dag.upstream == {
        "join": ("left", "right"),
        "left": ("src",),
        "src": (),
        "right": ("src",),
    }
    assert set(dag.downstream["src"]) == {"left", "right"}
    assert dag.downstream["join"] == ()
    assert dag.writer_of == {"j": "join", "l": "left", "s": "src", "r": "right"}


def test_external_inputs_make_no_edges_and_one_writer_counts_once() -> None:
    dag = Dag.build([step("a", (), ("x", "y")), step("b", ("x", "y", "upload"))])
    assert dag.upstream["b"] == ("a",)
    assert dag.upstream["a"] == ()


def test_topological_order_respects_edges_and_keeps_version_order_for_ties() -> None:
    order = Dag.build(DIAMOND).topological_order()
    assert order == ["src", "left", "right", "join"]
    independent = [step("c"), step("a"), step("b")]
    assert Dag.build(independent).topological_order() == ["c", "a", "b"]


def test_no_cycle_in_a_dag() -> None:
    assert Dag.build(DIAMOND).cycle() is None
    assert Dag.build([]).cycle() is None


def test_cycle_names_its_steps_in_order() -> None:
    steps = [
        step("free", (), ("f",)),
        step("a", ("z", "f"), ("x",)),
        step("b", ("x",), ("y",)),
        step("c", ("y",), ("z",)),
    ]
    cycle = Dag.build(steps).cycle()
    assert cycle is not None
    assert sorted(cycle) == ["a", "b", "c"]
    # consecutive names are edges upstream → downstream, closing back on the first
    dag = Dag.build(steps)
    for up, down in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
        assert up in dag.upstream[down]


def test_two_step_cycle() -> None:
    cycle = Dag.build([step("a", ("y",), ("x",)), step("b", ("x",), ("y",))]).cycle()
    assert cycle is not None
    assert sorted(cycle) == ["a", "b"]


def test_topological_order_refuses_a_cycle() -> None:
    dag = Dag.build([step("a", ("y",), ("x",)), step("b", ("x",), ("y",))])
    try:
        dag.topological_order()
    except ValueError as err:
        assert "cycle" in str(err)
    else:
        raise AssertionError("a cycle was ordered")


def test_long_chain_has_no_recursion_limit() -> None:
    n = 5000
    chain = [step(f"s{i}", (f"d{i - 1}",) if i else (), (f"d{i}",)) for i in range(n)]
    dag = Dag.build(chain)
    assert dag.cycle() is None
    assert dag.topological_order() == [f"s{i}" for i in range(n)]
    assert len(dag.ancestors(f"s{n - 1}")) == n
    looped = [*chain[1:], step("s0", (f"d{n - 1}",), ("d0",))]
    cycle = Dag.build(looped).cycle()
    assert cycle is not None
    assert len(cycle) == n


def test_descendants_and_ancestors_include_the_step() -> None:
    dag = Dag.build(DIAMOND)
    assert dag.descendants("src") == {"src", "left", "right", "join"}
    assert dag.descendants("left") == {"left", "join"}
    assert dag.descendants("join") == {"join"}
    assert dag.ancestors("join") == {"join", "left", "right", "src"}
    assert dag.ancestors("right") == {"right", "src"}
