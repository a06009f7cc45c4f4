"""Column names Spark and Trino cannot read without column mapping, and what to use instead."""

from __future__ import annotations

import pytest

from headrace.domain.columns import readable_name, unreadable, unreadable_names


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("first name", "a space"),
        ("a,b", "','"),
        ("a;b", "';'"),
        ("a{b}", "'{' and '}'"),
        ("f(x)", "'(' and ')'"),
        ("a=b", "'='"),
        ("line\nbreak", "a newline"),
        ("tab\there", "a tab"),
        ("a b,c", "a space and ','"),
    ],
)
def test_each_character_spark_and_trino_refuse_is_named(name: str, why: str) -> None:
    assert unreadable(name) == why


@pytest.mark.parametrize("name", ["id", "first_name", "Amount€", "a.b", "a-b", "x1", "ünïcødé"])
def test_other_names_are_readable(name: str) -> None:
    assert unreadable(name) is None


def test_every_unreadable_name_is_listed_with_a_readable_one() -> None:
    found = unreadable_names(["ok", "first name", "sum(x)", "also_ok"])
    assert [name for name, _ in found] == ["first name", "sum(x)"]
    assert "rename it, e.g. 'first_name'" in found[0][1]
    assert readable_name("sum(x)") == "sum_x"
    assert readable_name("()") == "column"
