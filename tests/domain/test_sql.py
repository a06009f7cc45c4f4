"""Static analysis of step SQL: the tables a query reads and what it may not do."""

from __future__ import annotations

import pytest

from headrace.domain.sql import analyse


def _types(sql: str, outputs: int = 1) -> list[str]:
    return [type_ for _, type_ in analyse(sql, outputs).problems]


@pytest.mark.parametrize(
    ("sql", "reads"),
    [
        ("SELECT * FROM orders", {"orders"}),
        ("FROM orders", {"orders"}),
        ('SELECT * FROM "orders-2024"', {"orders-2024"}),
        ("SELECT * FROM a JOIN b USING (id)", {"a", "b"}),
        ("SELECT * FROM a UNION ALL SELECT * FROM b", {"a", "b"}),
        ("SELECT * FROM a WHERE id IN (SELECT id FROM b)", {"a", "b"}),
        ("SELECT * FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.id = a.id)", {"a", "b"}),
        ("SELECT (SELECT max(x) FROM b) AS m FROM a", {"a", "b"}),
        # a CTE named like a table shadows it
        ("WITH orders AS (SELECT 1 AS id) SELECT * FROM orders", set()),
        ("WITH t AS (SELECT * FROM a) SELECT * FROM t JOIN t AS u USING (id)", {"a"}),
        # ... but not inside its own definition, nor in a scope it does not cover
        ("WITH orders AS (SELECT * FROM orders) SELECT * FROM orders", {"orders"}),
        ("SELECT * FROM (WITH t AS (SELECT 1 AS id) SELECT * FROM t) s, t", {"t"}),
        ("SELECT (WITH t AS (SELECT 1) SELECT 1 FROM t) AS x, (SELECT 1 FROM t) AS y", {"t"}),
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
            "SELECT * FROM r",
            set(),
        ),
        # tables sqlglot's scopes do not count as selected are read all the same
        ("SELECT * FROM a SEMI JOIN b ON a.id = b.id", {"a", "b"}),
        ("SELECT * FROM a ANTI JOIN b USING (id)", {"a", "b"}),
        ("WITH t AS (SELECT * FROM a) SELECT * FROM t SEMI JOIN b USING (id)", {"a", "b"}),
        ("WITH b AS (SELECT 1 AS id) SELECT * FROM a SEMI JOIN b USING (id)", {"a"}),
        ("SELECT * FROM (b AS s) AS t", {"b"}),
        ("SELECT * FROM (a CROSS JOIN b) AS t", {"a", "b"}),
        ("SELECT x FROM a UNION ALL SELECT x FROM a ORDER BY (SELECT 1 FROM b)", {"a", "b"}),
        ("SELECT * FROM (SUMMARIZE b)", {"b"}),
        ("SELECT * FROM (DESCRIBE b)", {"b"}),
        # ... and a CTE stays shadowing through a PIVOT of it
        ("WITH t AS (SELECT 1 AS a, 2 AS b) FROM t UNPIVOT (v FOR k IN (a, b)) AS t", set()),
        ("SELECT * FROM range(10)", set()),
        ("SELECT * FROM generate_series(1, 5)", set()),
        ("SELECT unnest([1, 2]) AS x", set()),
        ("SELECT * FROM unnest([1, 2])", set()),
    ],
)
def test_tables_read(sql: str, reads: set[str]) -> None:
    result = analyse(sql, 1)
    assert result.problems == []
    assert result.reads == reads


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('x.csv')",
        "SELECT * FROM READ_CSV_AUTO('x.csv')",
        "SELECT * FROM \"read_csv\"('x')",
        "SELECT * FROM main.read_csv('x')",
        "SELECT * FROM read_parquet(['a', 'b'])",
        "SELECT * FROM read_json_auto('x')",
        "SELECT * FROM read_ndjson('x')",
        "SELECT * FROM read_text('x')",
        "SELECT * FROM read_blob('x')",
        "SELECT * FROM parquet_scan('x')",
        "SELECT * FROM parquet_metadata('x')",
        "SELECT * FROM sniff_csv('x')",
        "SELECT * FROM glob('*')",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM query_table('t')",
        "SELECT * FROM iceberg_scan('x')",
        "SELECT * FROM delta_scan('x')",
        "SELECT * FROM sqlite_scan('x', 't')",
        "SELECT * FROM postgres_scan('x', 'y', 'z')",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM duckdb_extensions()",
        "SELECT * FROM pragma_table_info('t')",
        "SELECT getenv('HOME') AS h",
        "SELECT current_setting('threads') AS t",
        "SELECT * FROM list_files('x')",
        "SELECT * FROM orders, LATERAL read_csv('x')",
        "SELECT * FROM orders WHERE id IN (SELECT id FROM read_csv('x'))",
        "WITH t AS (SELECT * FROM read_csv('x')) SELECT * FROM t",
    ],
)
def test_file_url_and_settings_functions_are_forbidden(sql: str) -> None:
    assert "sql.forbidden_function" in _types(sql)


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("SELECT * FROM 'file.csv'", "file.csv"),
        ("SELECT * FROM 'data/*.parquet'", "data/*.parquet"),
        ("SELECT * FROM 'https://example.com/x.csv'", "https://example.com/x.csv"),
        ("SELECT * FROM orders JOIN 'x.parquet' USING (id)", "x.parquet"),
        ("SELECT * FROM (FROM 'x.csv')", "x.csv"),
    ],
)
def test_files_named_as_tables_are_reads_of_undeclared_inputs(sql: str, table: str) -> None:
    result = analyse(sql, 1)
    assert table in result.reads


@pytest.mark.parametrize(
    ("sql", "type_"),
    [
        ("SELECT * FROM main.orders", "sql.qualified_table"),
        ("SELECT * FROM db.main.orders", "sql.qualified_table"),
        ("SELECT * FROM x.csv", "sql.qualified_table"),
        ("ATTACH 'x.db' AS x", "sql.forbidden_statement"),
        ("DETACH x", "sql.forbidden_statement"),
        ("COPY (SELECT 1) TO 'x.csv'", "sql.forbidden_statement"),
        ("COPY orders FROM 'x.csv'", "sql.forbidden_statement"),
        ("INSTALL httpfs", "sql.forbidden_statement"),
        ("LOAD httpfs", "sql.forbidden_statement"),
        ("SET memory_limit = '1GB'", "sql.forbidden_statement"),
        ("RESET threads", "sql.forbidden_statement"),
        ("PRAGMA version", "sql.forbidden_statement"),
        ("CALL pragma_version()", "sql.forbidden_statement"),
        ("USE other", "sql.forbidden_statement"),
        ("CREATE TABLE out AS SELECT 1", "sql.forbidden_statement"),
        ("INSERT INTO orders VALUES (1)", "sql.forbidden_statement"),
        ("DROP TABLE orders", "sql.forbidden_statement"),
        ("DESCRIBE orders", "sql.forbidden_statement"),
        ("SELECT 1; SELECT 2", "sql.statement_count"),
        ("SELECT 1 AS a JOIN", "sql.parse"),
        ("SELEC 1", "sql.parse"),
        ("SELECT", "sql.parse"),
        ("SELECT * FROM", "sql.parse"),
        ("", "sql.empty"),
        ("  \n\t", "sql.empty"),
        (";", "sql.empty"),
        ("SELECT * FROM a JOIN a USING (id)", "sql.invalid"),
        ("SELECT * FROM a AS x, b AS x", "sql.invalid"),
        ("SELECT * FROM a AS x, (SELECT 1) AS x", "sql.invalid"),
        ("WITH t AS (SELECT 1) SELECT * FROM t, t", "sql.invalid"),
        ("SELECT * FROM (PIVOT b ON y USING sum(x)) AS p", "sql.invalid"),  # not a crash
    ],
)
def test_forbidden_or_broken_single_output_queries(sql: str, type_: str) -> None:
    assert type_ in _types(sql)


def test_a_pivot_statement_reads_its_table() -> None:
    assert "b" in analyse("WITH p AS (PIVOT b ON y USING sum(x)) SELECT * FROM p", 1).reads


def test_parse_error_says_where() -> None:
    (msg, _), *_ = analyse("SELECT (1", 1).problems
    assert "line 1" in msg


def test_several_outputs_take_create_table_statements() -> None:
    script = (
        "CREATE TABLE a AS SELECT * FROM src; "
        "CREATE TABLE b AS SELECT * FROM a JOIN other USING (id)"
    )
    result = analyse(script, 2)
    assert result.problems == []
    assert result.creates == ["a", "b"]
    assert result.reads == {"src", "other"}  # `a` is made by the script itself


def test_several_outputs_refuse_other_statements() -> None:
    assert _types("CREATE TABLE a AS SELECT 1; ATTACH 'x' AS y", 2) == ["sql.forbidden_statement"]
    assert _types("SELECT 1", 2) == ["sql.forbidden_statement"]
    assert "sql.forbidden_function" in _types(
        "CREATE TABLE a AS SELECT * FROM read_csv('x'); CREATE TABLE b AS SELECT 1", 2
    )


def test_problems_of_every_statement_are_kept() -> None:
    types = _types("SELECT * FROM read_csv('a'); SELECT getenv('x')", 1)
    assert types.count("sql.forbidden_function") == 2
    assert "sql.statement_count" in types


def test_sql_that_breaks_sqlglots_parser_is_a_problem_not_a_crash() -> None:
    assert _types("SELECT a ->| 'y')") == ["sql.parse"]


def test_untokenizable_sql_is_a_located_problem_not_a_crash() -> None:
    from headrace.domain.sql import analyse

    result = analyse("SELECT 1 /* a /* b */", 1)
    assert [t for _, t in result.problems] == ["sql.parse"]
