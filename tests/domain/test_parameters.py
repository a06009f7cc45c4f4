"""Run parameters: declarations, a run's values and the typed values a step binds."""

from __future__ import annotations

import datetime as dt

from headrace.domain.parameters import Parameter, check_declared, resolve, typed
from headrace.domain.pipeline import DataTransform, Step
from headrace.domain.validation import validate_steps

DECLARED = [
    Parameter("region", "string"),
    Parameter("limit", "integer", 10, has_default=True),
    Parameter("ratio", "number", 0.5, has_default=True),
    Parameter("full", "boolean", False, has_default=True),
    Parameter("day", "date", "2024-03-10", has_default=True),
    Parameter("at", "timestamp", None, has_default=True),
]


def test_a_run_gets_its_values_over_the_defaults() -> None:
    values, problems = resolve(DECLARED, {"region": "eu", "limit": 3}, ("body", "parameters"))
    assert problems == []
    assert values == {
        "region": "eu",
        "limit": 3,
        "ratio": 0.5,
        "full": False,
        "day": "2024-03-10",
        "at": None,
    }


def test_every_bad_value_is_listed_at_once() -> None:
    given = {"limit": 2**63, "ratio": True, "full": 1, "day": "10/03/2024", "nope": 1}
    _, problems = resolve(DECLARED, given, ("body", "parameters"))
    assert {(p.loc[-1], p.type) for p in problems} == {
        ("nope", "parameter.unknown"),
        ("region", "missing"),
        ("limit", "parameter.bad_value"),
        ("ratio", "parameter.bad_value"),
        ("full", "parameter.bad_value"),
        ("day", "parameter.bad_value"),
    }


def test_a_timestamp_needs_its_offset() -> None:
    _, problems = resolve(DECLARED, {"region": "x", "at": "2024-03-10T02:30:00"}, ("p",))
    assert [p.loc for p in problems] == [("p", "at")]
    values, problems = resolve(DECLARED, {"region": "x", "at": "2024-03-10T02:30:00+01:00"}, ())
    assert problems == [] and values["at"] == "2024-03-10T02:30:00+01:00"


def test_declarations_are_checked_together() -> None:
    bad = [
        Parameter("1x", "string"),
        Parameter("a", "text"),
        Parameter("b", "integer", "ten", has_default=True),
        Parameter("b", "integer"),
        Parameter("scheduled_for", "timestamp"),
    ]
    found = {(p.loc, p.type) for p in check_declared(bad, ("parameters",))}
    assert found == {
        (("parameters", 0, "name"), "parameter.bad_name"),
        (("parameters", 1, "type"), "parameter.bad_type"),
        (("parameters", 2, "default"), "parameter.bad_value"),
        (("parameters", 3, "name"), "parameter.twice"),
        (("parameters", 4, "name"), "parameter.reserved"),
    }


def test_sql_may_use_only_declared_parameters_and_scheduled_for() -> None:
    step = Step(
        "s",
        DataTransform("SELECT $region AS r, $scheduled_for AS t, $other AS o", (), ("out",)),
    )
    problems = validate_steps([step], [Parameter("region", "string")])
    assert [(p.loc, p.type) for p in problems] == [
        (("steps", "s", "config", "query"), "sql.undeclared_parameter")
    ]
    assert "$other" in problems[0].msg


def test_typed_values_are_what_duckdb_binds() -> None:
    values, _ = resolve(DECLARED, {"region": "eu", "at": "2024-03-10T02:30:00+00:00"}, ())
    when = dt.datetime(2024, 3, 10, 7, tzinfo=dt.UTC)
    bound = typed(DECLARED, values, when)
    assert bound["day"] == dt.date(2024, 3, 10)
    assert bound["at"] == dt.datetime(2024, 3, 10, 2, 30, tzinfo=dt.UTC)
    assert bound["ratio"] == 0.5 and isinstance(bound["ratio"], float)
    assert bound["scheduled_for"] == when
