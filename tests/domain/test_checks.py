"""What is wrong with a step's checks, every problem located at its check and field, and the
query each check runs (values bound, never spliced)."""

from __future__ import annotations

from headrace.domain.checks import (
    Check,
    check_from_dict,
    check_queries,
    labels,
    validate_checks,
)
from headrace.domain.pipeline import DataTransform, Step, step_from_dict
from headrace.domain.validation import validate_steps

LOC = ("steps", "s", "config", "checks")


def problems(checks: list[Check], outputs: tuple[str, ...] = ("out",)) -> set[tuple[object, str]]:
    return {(p.loc[4:], p.type) for p in validate_checks(checks, outputs, LOC)}


def test_valid_checks_have_no_problem() -> None:
    assert (
        problems(
            [
                Check("not_null", column="id"),
                Check("unique", columns=("id", "day")),
                Check("accepted_values", column="c", values=("a", 1, 2.5, True)),
                Check("row_count", min=1),
                Check("expression", expression="amount >= 0 AND upper(c) <> 'X'"),
                Check("sql", query="SELECT * FROM out o WHERE NOT EXISTS (SELECT 1 FROM out)"),
                Check("not_null", name="id_again", column="id", severity="warn"),
            ]
        )
        == set()
    )


def test_every_problem_is_located_at_its_check_and_field() -> None:
    found = problems(
        [
            Check("nonsense"),
            Check("not_null", severity="fatal"),
            Check("unique", column="a", columns=("b",)),
            Check("accepted_values", column="c"),
            Check("accepted_values", name="v2", column="c", values=({"x": 1},)),
            Check("row_count"),
            Check("row_count", name="r2", min=5, max=1),
            Check("expression"),
            Check("sql", query="   "),
            Check("not_null", column="id", dataset="elsewhere"),
            Check("row_count", name="neg", min=-1),
            Check("not_null", name="nul\x00", column="id"),
        ]
    )
    assert found == {
        ((0, "type"), "check.type"),
        ((1, "severity"), "check.severity"),
        ((1, "column"), "check.column_missing"),
        ((2, "columns"), "check.columns"),
        ((3, "values"), "check.values_missing"),
        ((4, "values"), "check.values"),
        ((5, "min"), "check.bounds_missing"),
        ((6, "max"), "check.bounds"),
        ((7, "expression"), "check.expression_missing"),
        ((8, "query"), "check.query_missing"),
        ((9, "dataset"), "check.dataset_unknown"),
        ((10, "min"), "check.bounds"),
        ((11, "name"), "text.invalid_character"),
    }


def test_a_check_of_a_step_with_several_outputs_names_its_dataset() -> None:
    assert problems([Check("row_count", min=1)], ("a", "b")) == {
        ((0, "dataset"), "check.dataset_missing")
    }
    assert problems([Check("row_count", min=1, dataset="b")], ("a", "b")) == set()


def test_two_checks_of_one_name_are_refused() -> None:
    found = problems([Check("not_null", name="n", column="a"), Check("row_count", name="n", min=1)])
    assert found == {((1, "name"), "check.duplicate_name")}


def test_unnamed_checks_get_names_of_their_own() -> None:
    checks = [
        Check("expression", expression="a > 0"),
        Check("expression", expression="b > 0"),
        Check("not_null", column="id"),
        Check("row_count", name="expression_3", min=1),
        Check("expression", expression="c > 0"),
    ]
    assert labels(checks, ["out"]) == [
        "expression",
        "expression_2",
        "not_null_id",
        "expression_3",
        "expression_4",
    ]


def test_a_checks_sql_is_validated_like_a_steps() -> None:
    found = problems(
        [
            Check("sql", query="SELECT * FROM read_csv('/etc/passwd')"),
            Check("sql", query="SELECT * FROM other_dataset"),
            Check("sql", query="COPY out TO '/tmp/x.csv'"),
            Check("sql", query="SELECT 1; SELECT 2"),
            Check("expression", expression="1) OR (1"),
            Check("expression", expression="id > 0; DROP TABLE out"),
            Check("expression", expression="getenv('HOME') IS NOT NULL"),
            Check("expression", expression="id IN (SELECT id FROM secrets)"),
            Check("sql", name="p", query="SELECT * FROM out WHERE id > $limit"),
        ]
    )
    assert found == {
        ((0, "query"), "sql.forbidden_function"),
        ((1, "query"), "check.undeclared_input"),
        ((2, "query"), "sql.forbidden_statement"),
        ((3, "query"), "sql.statement_count"),
        ((4, "expression"), "sql.parse"),
        ((5, "expression"), "sql.parse"),
        ((6, "expression"), "sql.forbidden_function"),
        ((7, "expression"), "check.undeclared_input"),
        ((8, "query"), "check.parameter"),
    }


def test_a_version_reports_its_checks_problems_with_the_others() -> None:
    step = Step(
        "s",
        DataTransform("SELECT nosuchfunc(1) AS x", (), ("out",), checks=(Check("row_count"),)),
    )
    types = {p.type for p in validate_steps([step])}
    assert {"sql.forbidden_function", "check.bounds_missing"} <= types


def test_accepted_values_are_bound_not_spliced() -> None:
    [query] = check_queries([Check("accepted_values", column="c", values=("x'); DROP",))], ["out"])
    assert "DROP" not in query.sql and query.params == ("x'); DROP",)
    assert query.name == "accepted_values_c" and query.dataset == "out"


def test_checks_survive_storage() -> None:
    check = Check("unique", name="u", dataset="b", columns=("x", "y"), severity="warn")
    config = DataTransform("CREATE TABLE a AS SELECT 1; CREATE TABLE b AS SELECT 2", (), ("a", "b"))
    stored = DataTransform(config.query, (), ("a", "b"), checks=(check,)).to_dict()
    assert step_from_dict("s", stored).config.checks == (check,)
    assert check_from_dict(check.to_dict()) == check
    assert "checks" not in config.to_dict()  # a config without checks is stored as before
