"""``headrace runs start --param NAME=VALUE``: values read as each parameter's declared type."""

from __future__ import annotations

import pytest
import typer

from headrace.cli.remote.runs import parse_params

TYPES = {"n": "integer", "r": "number", "ok": "boolean", "day": "date", "who": "string"}


def test_values_take_their_declared_types() -> None:
    given = ["n=3", "r=0.5", "ok=false", "day=2024-03-10", "who=a=b", "other=7"]
    assert parse_params(given, TYPES) == {
        "n": 3,
        "r": 0.5,
        "ok": False,
        "day": "2024-03-10",
        "who": "a=b",
        "other": "7",
    }


@pytest.mark.parametrize("bad", ["n=three", "ok=maybe", "noequals"])
def test_a_value_that_cannot_be_its_type_is_refused(bad: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_params([bad], TYPES)
