"""The fingerprint of a step: what changes it and what does not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from headrace.domain.fingerprint import NONDETERMINISTIC, Recipe, fingerprint, recipe
from headrace.domain.pipeline import DataTransform

STEP = DataTransform(
    query="SELECT id, amount * 2 AS doubled FROM orders WHERE amount > 10",
    input_datasets=("orders",),
    output_datasets=("doubled",),
)
INPUTS = {"orders": ("7f0c", 3)}
OUTPUTS = {"doubled": "a1b2"}


def _print(made: Recipe, **changes: object) -> str | None:
    args: dict[str, object] = {
        "inputs": INPUTS,
        "outputs": OUTPUTS,
        "parameters": {},
        "engine": "duckdb 2.0.1/headrace-step-1",
    }
    args.update(changes)
    return fingerprint(made, **args)  # type: ignore[arg-type]


def test_whitespace_comments_and_keyword_case_do_not_change_it() -> None:
    reformatted = replace(
        STEP,
        query="select id,\n  amount*2 as doubled -- twice\n from orders /* all */ where amount>10",
    )
    assert recipe(reformatted).key == recipe(STEP).key is not None
    assert _print(recipe(reformatted)) == _print(recipe(STEP))


@pytest.mark.parametrize(
    "query",
    [
        "SELECT id, amount * 3 AS doubled FROM orders WHERE amount > 10",  # a literal
        "SELECT id, amount * 2 AS doubled FROM orders WHERE amount >= 10",
        "SELECT id, amount * 2 AS twice FROM orders WHERE amount > 10",
        "SELECT ID, amount * 2 AS doubled FROM orders WHERE amount > 10",  # an identifier
    ],
)
def test_a_change_of_meaning_changes_it(query: str) -> None:
    assert recipe(replace(STEP, query=query)).key != recipe(STEP).key


def test_the_rest_of_the_config_enters_it() -> None:
    from headrace.domain.checks import Check

    base = recipe(STEP)
    assert recipe(replace(STEP, checks=(Check(type="not_null", column="id"),))).key != base.key
    assert recipe(replace(STEP, output_datasets=("other",))).key != base.key
    assert recipe(replace(STEP, input_datasets=("orders", "extra"))).key != base.key


def test_each_input_version_output_dataset_and_engine_changes_it() -> None:
    made = recipe(STEP)
    first = _print(made)
    assert _print(made, inputs={"orders": ("7f0c", 4)}) != first
    assert _print(made, inputs={"orders": ("other-id", 3)}) != first  # made again, same name
    assert _print(made, outputs={"doubled": "other-id"}) != first
    assert _print(made, engine="duckdb 2.0.2/headrace-step-1") != first
    assert _print(made) == first


def test_only_the_parameters_the_sql_uses_enter_it() -> None:
    made = recipe(replace(STEP, query="SELECT id FROM orders WHERE amount > $minimum"))
    assert made.parameters == ("minimum",)
    first = _print(made, parameters={"minimum": 10, "unused": "a"})
    assert _print(made, parameters={"minimum": 10, "unused": "b"}) == first
    assert _print(made, parameters={"minimum": 11, "unused": "a"}) != first


@pytest.mark.parametrize(
    "query",
    [
        "SELECT random() AS r FROM orders",
        "SELECT id, now() AS at FROM orders",
        "SELECT id, current_date AS d FROM orders",
        "SELECT id, CURRENT_TIMESTAMP AS at FROM orders",
        "SELECT uuid() AS u FROM orders",
        "SELECT gen_random_uuid() AS u FROM orders",
        "SELECT get_current_timestamp() AS u FROM orders",
        "SELECT id FROM orders USING SAMPLE 10%",
        "CREATE TABLE a AS SELECT 1 AS x; CREATE TABLE b AS SELECT today() AS d",
    ],
)
def test_non_deterministic_sql_is_never_reused(query: str) -> None:
    made = recipe(replace(STEP, query=query))
    assert made.key is None and made.refusal
    assert _print(made) is None


def test_a_sample_with_a_seed_is_repeatable() -> None:
    assert recipe(replace(STEP, query="SELECT id FROM orders USING SAMPLE 10% (bernoulli, 42)")).key


def test_cache_false_is_never_reused() -> None:
    made = recipe(replace(STEP, cache=False))
    assert made.key is None and made.refusal == "cache: false on the step"


def test_every_listed_function_is_one_duckdb_has() -> None:
    from headrace.domain.sql_functions import ALLOWED, DENIED

    catalog = {n.lower() for n in ALLOWED | DENIED}
    # sqlglot's own name for random(), and clock keywords that are syntax to DuckDB
    syntax = {"rand", "current_time", "current_timestamp", "localtime", "localtimestamp"}
    assert NONDETERMINISTIC - catalog <= syntax
