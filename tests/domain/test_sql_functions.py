"""The allowlist of functions step SQL may call covers DuckDB's whole catalog: every function
of the installed DuckDB is either allowed or denied, so a new version's functions are
refused until someone sorts them (issue 21 item 7: a blocklist missed
destroy_external_resource and pg_get_viewdef)."""

from __future__ import annotations

import re

import duckdb
import pytest

from headrace.domain.sql import analyse
from headrace.domain.sql_functions import ALLOWED, DENIED


def test_every_function_of_duckdb_is_allowed_or_denied() -> None:
    con = duckdb.connect()
    try:
        catalog = {
            r[0] for r in con.execute("SELECT function_name FROM duckdb_functions()").fetchall()
        }
    finally:
        con.close()
    # operators (+, IS DISTINCT FROM, ...) are in the catalog too, but are syntax, not calls
    callable_ = {n for n in catalog if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n)}
    unsorted = sorted(callable_ - ALLOWED - DENIED)
    assert unsorted == [], (
        f"DuckDB {duckdb.__version__} has functions headrace has not sorted: add each to "
        f"ALLOWED or DENIED in domain/sql_functions.py: {unsorted}"
    )
    assert set() == ALLOWED & DENIED


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM destroy_external_resource('query', 'x')",
        "SELECT pg_get_viewdef('__headrace_output') AS d",
        "SELECT current_setting('temp_directory') AS s",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT current_database() AS d",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM st_read('x')",
        "SELECT * FROM histogram_values(t, a)",
    ],
)
def test_functions_off_the_list_are_refused(query: str) -> None:
    found = analyse(query, 1)
    assert [t for _, t in found.problems] == ["sql.forbidden_function"], found.problems


@pytest.mark.parametrize(
    "query",
    [
        "SELECT strftime(now(), '%Y') AS y, date_trunc('month', current_date) AS m",
        "SELECT list_transform([1, 2], x -> x + 1) AS l, struct_pack(a := 1) AS s",
        "SELECT CAST(1 AS VARCHAR) AS c, TRY_CAST('x' AS INT) AS t, EXTRACT(year FROM now()) AS y",
        "SELECT formatReadableSize(1000) AS f, regexp_replace('a', 'a', 'b') AS r",
        "SELECT * FROM range(3) t(n) WHERE EXISTS (SELECT 1 FROM generate_series(1, 2))",
        "SELECT n, row_number() OVER (ORDER BY n) AS r, sum(n) OVER () AS s FROM range(3) t(n)",
        "SELECT approx_count_distinct(n) AS a, string_agg(n::VARCHAR, ',') AS s FROM range(3) t(n)",
        "SELECT * FROM unnest([1, 2]) u(x), json_each('{\"a\": 1}')",
        "SELECT CASE WHEN random() < 2 THEN 'a' END AS c, coalesce(NULL, 1) AS k, sleep_ms(1) AS z",
    ],
)
def test_ordinary_functions_pass(query: str) -> None:
    assert analyse(query, 1).problems == []
