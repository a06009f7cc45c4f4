"""Static analysis of step SQL with sqlglot (DuckDB dialect): what it reads, what it may not do.

This is the first of two locks: it refuses at validation what a step may never do (statements
other than queries, file/URL/settings functions, tables that are not declared inputs). The
second lock is the DuckDB sandbox at run time, which holds even against what this misses.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.scope import traverse_scope
from sqlglot.parser import Parser

# A function whose name matches reads files, URLs, the catalog of settings or the environment.
# Pure table functions (range, generate_series, unnest) stay allowed.
_FORBIDDEN_FUNCTION = re.compile(
    r"^(read_.*|.*_scan|scan_.*|glob|query|query_table|getenv|current_setting|duckdb_.*|pragma_.*"
    r"|sniff_csv|parquet_.*|which_secret|load_extension|install_extension|enable_.*|disable_.*"
    r"|iceberg_.*|delta_.*|sqlite_.*|postgres_.*|mysql_.*|checkpoint|force_checkpoint"
    r"|json_execute_serialized_sql|set_variable|getvariable|list_files|file_.*|.*_metadata)$"
)

# sqlglot logs a warning when it falls back to a raw Command (LOAD, CALL, ...); we report those
# statements ourselves, so the warning is noise.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_DUCKDB = Dialect.get_or_raise("duckdb")
_parsers = threading.local()


def _parse(sql: str) -> list[exp.Expr | None]:
    """``sqlglot.parse(sql, read="duckdb")`` with one parser per thread, reset by each parse:
    making a parser costs more than parsing a short query (a 10,000-step pipeline has 10,000)."""
    parser: Parser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = _DUCKDB.parser()
    return parser.parse(_DUCKDB.tokenize(sql), sql)


@dataclass
class SqlAnalysis:
    """What a step's SQL does, or every reason it may not run."""

    reads: set[str] = field(default_factory=set)
    creates: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (message, type)

    def fail(self, msg: str, type_: str) -> None:
        self.problems.append((msg, type_))


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    names = type(node).sql_names()
    return (names[0] if names else type(node).key).lower()


def _check_functions(tree: exp.Expr, out: SqlAnalysis) -> None:
    for node in tree.find_all(exp.Func):
        name = _function_name(node)
        if _FORBIDDEN_FUNCTION.match(name):
            out.fail(
                f"function {name}() is not allowed: a step may read only its input datasets",
                "sql.forbidden_function",
            )


def _tables_read(query: exp.Expr, out: SqlAnalysis) -> set[str]:
    """Names of real tables a query reads, walking scopes so that CTEs shadow table names."""
    found: set[str] = set()
    try:
        scopes = traverse_scope(query)
        sources = [s for scope in scopes for s in scope.selected_sources.values()]
    except SqlglotError as err:  # e.g. one alias used for two tables
        out.fail(f"the query is not valid: {err}", "sql.invalid")
        return found
    for _, table in sources:
        if not isinstance(table, exp.Table):
            continue
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function; checked by _check_functions
        if table.args.get("db") or table.args.get("catalog"):
            out.fail(
                f"table {table.sql(dialect='duckdb')} is qualified: refer to datasets by name",
                "sql.qualified_table",
            )
            continue
        found.add(table.name)
    return found


def analyse(sql: str, outputs: int) -> SqlAnalysis:
    """Check a step's SQL: one query for one output, else a script creating each output table."""
    out = SqlAnalysis()
    if not sql.strip():
        out.fail("the query is empty", "sql.empty")
        return out
    try:
        statements = [s for s in _parse(sql) if s is not None]
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        out.fail(f"the query cannot be parsed{where}: {first.get('description', err)}", "sql.parse")
        return out
    except SqlglotError as err:  # e.g. TokenError: an unterminated comment or quote
        out.fail(f"the query cannot be parsed: {err}", "sql.parse")
        return out
    if not statements:
        out.fail("the query is empty", "sql.empty")
        return out
    for statement in statements:
        if any(not select.expressions for select in statement.find_all(exp.Select)):
            out.fail("the query cannot be parsed: a SELECT needs at least one column", "sql.parse")
            return out
        _check_functions(statement, out)
    if outputs <= 1:
        _analyse_single(statements, out)
    else:
        _analyse_script(statements, out)
    return out


def _analyse_single(statements: list[exp.Expr], out: SqlAnalysis) -> None:
    if len(statements) > 1:
        out.fail(
            f"a step with one output takes exactly one SELECT statement, got {len(statements)}",
            "sql.statement_count",
        )
        return
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        out.fail(
            f"only a SELECT query is allowed here, not {_kind(statement)}",
            "sql.forbidden_statement",
        )
        return
    out.reads |= _tables_read(statement, out)


def _analyse_script(statements: list[exp.Expr], out: SqlAnalysis) -> None:
    """A multi-output step: each statement is CREATE TABLE name AS SELECT …; later ones may
    read the tables earlier ones created."""
    created: set[str] = set()
    for statement in statements:
        target = statement.this if isinstance(statement, exp.Create) else None
        kind = str(statement.args.get("kind") or "").upper()
        body = statement.expression if isinstance(statement, exp.Create) else None
        if (
            not isinstance(target, exp.Table)
            or kind not in ("TABLE", "VIEW")
            or not isinstance(body, exp.Query)
        ):
            out.fail(
                "a step with several outputs takes only CREATE TABLE <output> AS SELECT … "
                f"statements, not {_kind(statement)}",
                "sql.forbidden_statement",
            )
            continue
        out.reads |= _tables_read(body, out) - created
        created.add(target.name)
        out.creates.append(target.name)


def _kind(statement: exp.Expr) -> str:
    if isinstance(statement, exp.Command):
        return str(statement.this).upper()
    return type(statement).__name__.upper()
