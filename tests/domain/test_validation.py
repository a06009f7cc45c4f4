"""Validation of a version's steps: every problem at once, each with its location."""

from __future__ import annotations

from headrace.domain.pipeline import DataTransform, Step
from headrace.domain.problems import Problem
from headrace.domain.validation import check_name, validate_steps


def step(
    name: str, query: str, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ()
) -> Step:
    return Step(name, DataTransform(query, inputs, outputs or (f"{name}_out",)))


def found(steps: list[Step]) -> set[tuple[tuple[str | int, ...], str]]:
    return {(p.loc, p.type) for p in validate_steps(steps)}


def test_a_valid_version_has_no_problems() -> None:
    steps = [
        step("gen", "SELECT range AS n FROM range(3)", (), ("numbers",)),
        step("double", "SELECT n * 2 AS n FROM numbers", ("numbers",), ("doubled",)),
        step(
            "split",
            "CREATE TABLE evens AS SELECT * FROM doubled WHERE n % 4 = 0; "
            "CREATE TABLE odds AS SELECT * FROM doubled WHERE n % 4 <> 0",
            ("doubled",),
            ("evens", "odds"),
        ),
    ]
    assert validate_steps(steps) == []


def test_no_steps() -> None:
    assert found([]) == {(("steps",), "steps.empty")}


def test_names() -> None:
    assert check_name("ok_name-1", ("x",), "name") == []
    assert check_name("a" * 255, ("x",), "name") == []
    assert [p.type for p in check_name("", ("x",), "name")] == ["name.empty"]
    assert [p.type for p in check_name("a" * 256, ("x",), "name")] == ["name.too_long"]
    for bad in ("a.b", "a/b", "a b", "-a", "ä"):
        assert [p.type for p in check_name(bad, ("x",), "name")] == ["name.invalid"], bad


def test_duplicates_two_writers_and_self_loops() -> None:
    steps = [
        step("a", "SELECT 1", (), ("x",)),
        step("a", "SELECT 2", (), ("y",)),
        step("b", "SELECT 3", (), ("x",)),
        step("c", "SELECT * FROM z", ("z",), ("z",)),
        step("d", "SELECT * FROM w", ("w", "w"), ("v",)),
    ]
    assert found(steps) == {
        (("steps", "a", "name"), "step.duplicate_name"),
        (("steps", "b", "config", "output_datasets"), "datasets.two_writers"),
        (("steps", "c", "config", "output_datasets"), "datasets.self_loop"),
        (("steps", "d", "config", "input_datasets"), "datasets.duplicate"),
    }


def test_cycle_is_reported_with_its_steps() -> None:
    problems = validate_steps(
        [step("a", "SELECT * FROM y", ("y",), ("x",)), step("b", "SELECT * FROM x", ("x",), ("y",))]
    )
    assert [(p.loc, p.type) for p in problems] == [(("steps",), "steps.cycle")]
    assert "a" in problems[0].msg and "b" in problems[0].msg


def test_cycle_is_reported_alongside_other_problems() -> None:
    steps = [
        step("a", "SELECT * FROM y", ("y",), ("x",)),
        step("b", "SELECT * FROM x", ("x",), ("y",)),
        step("b", "SELECT 1", (), ("q",)),
        step("files", "SELECT * FROM read_csv('x')", (), ("r",)),
    ]
    assert found(steps) == {
        (("steps",), "steps.cycle"),
        (("steps", "b", "name"), "step.duplicate_name"),
        (("steps", "files", "config", "query"), "sql.forbidden_function"),
    }


def test_query_problems_are_located_at_the_step_query() -> None:
    steps = [
        step("undeclared", "SELECT * FROM orders JOIN secret USING (id)", ("orders",)),
        step("shadow", "SELECT * FROM (WITH s AS (SELECT 1) SELECT * FROM s) t, s"),
        step("fine_shadow", "WITH s AS (SELECT 1 AS n) SELECT * FROM s"),
        step("empty", ""),
        step("broken", "SELEC 1"),
        step("two", "SELECT 1; SELECT 2"),
        step("attach", "ATTACH 'x.db'"),
    ]
    q = ("config", "query")
    assert found(steps) == {
        (("steps", "undeclared", *q), "sql.undeclared_input"),
        (("steps", "shadow", *q), "sql.undeclared_input"),
        (("steps", "empty", *q), "sql.empty"),
        (("steps", "broken", *q), "sql.parse"),
        (("steps", "two", *q), "sql.statement_count"),
        (("steps", "attach", *q), "sql.forbidden_statement"),
    }


def test_several_outputs_must_each_be_created_once() -> None:
    steps = [
        step("missing", "CREATE TABLE a AS SELECT 1", (), ("a", "b")),
        step("twice", "CREATE TABLE c AS SELECT 1; CREATE TABLE c AS SELECT 2", (), ("c", "d")),
    ]
    q = ("config", "query")
    assert found(steps) == {
        (("steps", "missing", *q), "sql.output_not_created"),
        (("steps", "twice", *q), "sql.output_not_created"),
        (("steps", "twice", *q), "sql.duplicate_create"),
    }


def test_nameless_steps_are_located_by_position() -> None:
    problems = validate_steps([step("ok", "SELECT 1"), Step("", DataTransform("", (), ("o",)))])
    assert Problem(("steps", 1, "name"), "step name must not be empty", "name.empty") in problems
    assert (("steps", 1, "config", "query"), "sql.empty") in {(p.loc, p.type) for p in problems}


def test_outputs_and_dataset_names() -> None:
    steps = [
        step("none", "SELECT 1", ("",), ()),
        Step("no_out", DataTransform("SELECT 1", (), ())),
        step("long", "SELECT 1", (), ("x" * 256,)),
    ]
    assert found(steps) == {
        (("steps", "none", "config", "input_datasets", 0), "name.empty"),
        (("steps", "no_out", "config", "output_datasets"), "outputs.empty"),
        (("steps", "long", "config", "output_datasets", 0), "name.too_long"),
    }


def test_unknown_job_and_query_types_are_problems_beside_the_others() -> None:
    spark = Step("a", DataTransform("SELECT nonsense FROM", (), ("x",), job_type="spark"))
    python = Step("b", DataTransform("print(1)", (), ("y",), query_type="python"))
    assert found([spark, python, step("c", "SELECT * FROM nowhere")]) == {
        (("steps", "a", "config", "job_type"), "step.job_type"),
        (("steps", "b", "config", "query_type"), "step.query_type"),
        (("steps", "c", "config", "query"), "sql.undeclared_input"),
    }
