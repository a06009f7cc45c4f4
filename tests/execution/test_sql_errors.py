"""DuckDB's errors restated for the user, from real DuckDB errors with ``errors_as_json``:
the caret lands in the user's SQL, or no SQL is quoted; known paths become names."""

from __future__ import annotations

import duckdb
import pytest

from headrace.execution.sql_errors import UserSql, restate


def _error(sql: str, *, as_json: bool = True) -> str:
    con = duckdb.connect()
    if as_json:
        con.execute("SET errors_as_json=true")
    with pytest.raises(duckdb.Error) as caught:
        con.execute(sql)
    return str(caught.value)


def test_a_position_in_the_users_sql_is_quoted_from_it() -> None:
    head = "CREATE TEMP VIEW v AS "
    query = "SELECT 1 AS a,\n       nosuch + 1 AS b"
    text = restate(_error(head + query), UserSql(query, len(head)), {})
    assert text == (
        'Binder Error: Referenced column "nosuch" was not found because the FROM clause is '
        "missing\n\nLINE 2:        nosuch + 1 AS b\n"
        "               ^^^^^^"
    )


def test_a_long_line_is_shortened_around_the_caret() -> None:
    query = "SELECT " + ", ".join(f"{n} AS c{n}" for n in range(200)) + ", nosuch AS z"
    text = restate(_error(query), UserSql(query, 0), {})
    quoted, caret = text.split("\n")[-2:]
    assert quoted.startswith("LINE 1: ...") and quoted.endswith("nosuch AS z")
    assert quoted[caret.index("^") :].startswith("nosuch")
    assert len(quoted) < 120


def test_a_position_in_headraces_own_sql_quotes_no_sql() -> None:
    query = "SELECT 1 AS a"
    statement = f"SELECT nosuch FROM ({query})"
    text = restate(_error(statement), UserSql(query, statement.index(query)), {})
    assert text.startswith('Binder Error: Referenced column "nosuch" not found')
    assert "LINE" not in text and "SELECT" not in text


def test_without_json_the_quoted_statement_is_dropped_and_paths_named() -> None:
    folder = "/srv/warehouse/0a1b/2c3d/w-9f"
    raw = _error(f"COPY (SELECT nosuch) TO '{folder}/part-1.parquet'", as_json=False)
    assert "LINE 1" in raw
    text = restate(raw + f" in {folder}/part-1.parquet", None, {folder: "<output totals>"})
    assert text.startswith("Binder Error: Referenced column")
    assert "LINE" not in text and "COPY" not in text and folder not in text
