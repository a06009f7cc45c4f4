"""Static analysis of step SQL with sqlglot (DuckDB dialect): what it reads, what it may not do.

This is the first of two locks: it refuses at validation what a step may never do (statements
other than queries, functions that are not on the allowlist of ``sql_functions.py``, tables
that are not declared inputs). The second lock is the DuckDB sandbox at run time, which holds
even against what this misses.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.scope import traverse_scope

from headrace.domain.sql_functions import ALLOWED

# DuckDB's names are matched without case (its catalog has a few in camelCase).
_ALLOWED = frozenset(name.lower() for name in ALLOWED)
# The head of a function call as sqlglot writes it for DuckDB.
_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(")
# Written like calls by sqlglot, but syntax to DuckDB, not functions of its catalog.
_SYNTAX = frozenset(
    {"cast", "try_cast", "extract", "interval", "exists", "coalesce", "columns", "try", "grouping"}
)

_DUCKDB = Dialect.get_or_raise("duckdb")


class _Reader(threading.local):
    """One tokenizer and one parser per thread, each reset by its next use: making them costs
    more than reading a short query (a 10,000-step pipeline has 10,000)."""

    def __init__(self) -> None:
        self.tokenizer = _DUCKDB.tokenizer()
        self.parser = _DUCKDB.parser()


_reader = _Reader()


def parse(sql: str) -> list[exp.Expr | None]:
    """``sqlglot.parse(sql, read="duckdb")``, with this thread's tokenizer and parser."""
    return _reader.parser.parse(_reader.tokenizer.tokenize(sql), sql)


@dataclass
class SqlAnalysis:
    """What a step's SQL does, or every reason it may not run."""

    reads: set[str] = field(default_factory=set)
    creates: list[str] = field(default_factory=list)
    parameters: set[str] = field(default_factory=set)  # each ``$name`` the SQL binds
    problems: list[tuple[str, str]] = field(default_factory=list)  # (message, type)

    def fail(self, msg: str, type_: str) -> None:
        self.problems.append((msg, type_))


@dataclass
class _Scan:
    """What one walk over a tree finds: every check reads this instead of walking again."""

    empty_select: bool = False
    forbidden_functions: list[str] = field(default_factory=list)
    tables: list[exp.Table] = field(default_factory=list)
    # A name other than a table's that could shadow or repeat one: a CTE, a derived table, a
    # table function or LATERAL. Only then are sqlglot's scopes needed to tell what is read.
    needs_scopes: bool = False


def _scan(tree: exp.Expr) -> _Scan:
    found = _Scan()
    for node in tree.walk():
        if isinstance(node, exp.Func):
            name = _refused_function(node)
            if name is not None:
                found.forbidden_functions.append(name)
        elif isinstance(node, exp.Table):
            found.tables.append(node)
        elif isinstance(node, exp.Select):
            found.empty_select = found.empty_select or not node.expressions
        if isinstance(node, (exp.CTE, exp.Lateral)) or (
            isinstance(node, (exp.Subquery, exp.UDTF))
            and isinstance(node.parent, (exp.From, exp.Join))
        ):
            found.needs_scopes = True
    return found


def _refused_function(node: exp.Func) -> str | None:
    """The name of the function ``node`` calls when it is not on the allowlist, else None.
    sqlglot parses a function it knows into an expression of its own, whose names (and its
    key) are DuckDB's or its aliases; one whose names are not is checked by the name sqlglot
    writes for DuckDB (a rare case, so the cost of writing it is rarely paid)."""
    if isinstance(node, exp.Anonymous):
        name = str(node.name).lower()
        return None if name in _ALLOWED else name
    kind = type(node)
    if kind.key.lower() in _ALLOWED or any(n.lower() in _ALLOWED for n in kind.sql_names()):
        return None
    call = _CALL.match(node.sql(dialect="duckdb"))
    if call is None:  # syntax rather than a call (CASE, a lambda, a literal list...)
        return None
    name = call.group(1).lower()
    return None if name in _ALLOWED or name in _SYNTAX else name


def _tables_read(query: exp.Expr, scan: _Scan, out: SqlAnalysis) -> set[str]:
    """Names of real tables a query reads: every table node the walk found, except those that
    name a CTE where they stand. A table in a place sqlglot's scopes do not count as selected
    (the right side of a SEMI or ANTI join, the table of a DESCRIBE or SUMMARIZE in FROM) is
    read all the same."""
    found: set[str] = set()
    shadowed: set[int] = set()
    try:
        if scan.needs_scopes:
            shadowed = _cte_references(query)
        else:
            _check_aliases(scan.tables)
    except SqlglotError as err:  # e.g. one alias used for two tables
        out.fail(f"the query is not valid: {err}", "sql.invalid")
        return found
    except AssertionError:  # sqlglot's scopes meet a tree they do not expect
        out.fail(
            "the query is not valid here: its sources cannot be told apart "
            "(is there a PIVOT statement in FROM?)",
            "sql.invalid",
        )
        return found
    for table in scan.tables:
        if id(table) in shadowed or isinstance(table.parent, exp.JoinHint):
            continue
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function; checked by _scan
        if table.args.get("db") or table.args.get("catalog"):
            out.fail(
                f"table {table.sql(dialect='duckdb')} is qualified: refer to datasets by name",
                "sql.qualified_table",
            )
            continue
        found.add(table.name)
    return found


def _cte_references(query: exp.Expr) -> set[int]:
    """The table nodes (by id) that name a CTE visible where they stand, from sqlglot's scopes;
    these raise when a scope names two of its sources alike."""
    found: set[int] = set()
    for scope in traverse_scope(query):
        scope.selected_sources  # noqa: B018 (a property that checks the names)
        found |= {
            id(t) for t in scope.tables if t.name in scope.cte_sources and not t.args.get("db")
        }
    return found


def _check_aliases(tables: list[exp.Table]) -> None:
    """For a query whose FROM and JOIN clauses name only tables (so none is shadowed): raise as
    sqlglot's scopes do when a SELECT names two of its sources alike (the right side of a SEMI
    or ANTI join may)."""
    by_select: dict[int, tuple[list[str], set[str]]] = {}
    for table in tables:
        if not isinstance(table.parent, (exp.From, exp.Join)):
            continue  # e.g. one of the functions of ROWS FROM (...): not a source of its own
        names, semi = by_select.setdefault(id(table.parent_select), ([], set()))
        names.append(table.alias_or_name)
        if isinstance(table.parent, exp.Join) and table.parent.is_semi_or_anti_join:
            semi.add(table.alias_or_name)
    for names, semi in by_select.values():
        seen: set[str] = set()
        for name in names:
            if name in seen and name not in semi:
                raise OptimizeError(f"Alias already used: {name}")
            seen.add(name)


def analyse(sql: str, outputs: int) -> SqlAnalysis:
    """Check a step's SQL: one query for one output, else a script creating each output table."""
    out = SqlAnalysis()
    if not sql.strip():
        out.fail("the query is empty", "sql.empty")
        return out
    try:
        statements = [s for s in parse(sql) if s is not None]
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        out.fail(f"the query cannot be parsed{where}: {first.get('description', err)}", "sql.parse")
        return out
    except SqlglotError as err:  # e.g. TokenError: an unterminated comment or quote
        out.fail(f"the query cannot be parsed: {err}", "sql.parse")
        return out
    except TypeError:  # sqlglot's compiled parser on some broken input, e.g. "SELECT a ->| 1"
        out.fail("the query cannot be parsed", "sql.parse")
        return out
    if not statements:
        out.fail("the query is empty", "sql.empty")
        return out
    scans = [_scan(statement) for statement in statements]
    out.parameters = {
        node.name for statement in statements for node in statement.find_all(exp.Placeholder)
    }
    if any(scan.empty_select for scan in scans):
        out.fail("the query cannot be parsed: a SELECT needs at least one column", "sql.parse")
        return out
    for scan in scans:
        for name in scan.forbidden_functions:
            out.fail(
                f"function {name}() is not allowed in a step (it is not on the list of "
                "functions a step may call)",
                "sql.forbidden_function",
            )
    if outputs <= 1:
        _analyse_single(statements, scans[0], out)
    else:
        _analyse_script(statements, out)
    return out


def _analyse_single(statements: list[exp.Expr], scan: _Scan, out: SqlAnalysis) -> None:
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
    out.reads |= _tables_read(statement, scan, out)


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
        out.reads |= _tables_read(body, _scan(body), out) - created
        created.add(target.name)
        out.creates.append(target.name)


def _kind(statement: exp.Expr) -> str:
    if isinstance(statement, exp.Command):
        return str(statement.this).upper()
    return type(statement).__name__.upper()


def analyse_expression(condition: str, table: str) -> SqlAnalysis:
    """Check a boolean expression over the rows of ``table`` (a check's ``expression``): it
    must be one expression on its own, and then passes as ``SELECT * FROM table WHERE NOT
    (condition)`` would as a step's SQL."""
    out = SqlAnalysis()
    if not condition.strip():
        out.fail("the expression is empty", "sql.empty")
        return out
    try:
        _DUCKDB.parse_into(exp.Condition, condition)
    except (SqlglotError, TypeError):
        out.fail(
            "the expression cannot be parsed: it must be one boolean expression over the "
            "columns of a row (no FROM, no ';')",
            "sql.parse",
        )
        return out
    wrapped = analyse(f'SELECT * FROM "{table}" WHERE NOT (\n{condition}\n)', 1)
    out.reads = wrapped.reads
    out.problems = wrapped.problems
    out.parameters = wrapped.parameters
    return out
