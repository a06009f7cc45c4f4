"""Bind a pipeline version's SQL against real schemas when it is saved, with DuckDB's own
binder: every unknown column, table or type error is found before anything runs.

Each input becomes an empty table of its columns' DuckDB types (an existing dataset's
current schema, or what an earlier step of the version was inferred to write), in a fresh
connection locked like a step's sandbox (no files, no extensions, no settings), and each step
is bound in dependency order: ``DESCRIBE <query>`` for one output, the script with its
``CREATE TABLE`` made ``CREATE VIEW`` (binding only, in a transaction rolled back) for
several. Nothing is executed, so binding costs the same on a table of a billion rows as on
an empty one. DuckDB stops at the first error of a statement; when that error is an unknown
column, the reference is replaced by NULL and the statement bound again, so each step's
unknown columns are all reported at once, and its output is still inferred for the steps
below. A ``$name`` parameter binds as a value of its declared type.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headrace.domain.pipeline import Step
from headrace.domain.problems import Loc, Problem
from headrace.execution.sandbox import fresh_connection
from headrace.execution.sql_errors import quote_at
from headrace.storage.types import quote

if TYPE_CHECKING:
    import duckdb

Columns = list[tuple[str, str]]  # (name, DuckDB type)

MAX_ROUNDS = 20  # unknown columns reported per step before giving up on the rest
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_CREATE_TABLE = re.compile(r"(\bCREATE\s+(?:OR\s+REPLACE\s+)?)TABLE\b", re.IGNORECASE)
_DESCRIBE = "DESCRIBE "


@dataclass
class Binding:
    """What binding a version found: problems (the save is refused), warnings (inputs that
    do not exist yet: their steps were not bound) and each bound step's outputs' columns."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    output_schemas: dict[str, dict[str, Columns]] = field(default_factory=dict)


def _open(memory_limit: str) -> duckdb.DuckDBPyConnection:
    con = fresh_connection()
    con.execute("SET errors_as_json=true")
    con.execute(f"SET memory_limit='{memory_limit}'")
    con.execute("SET threads=1")
    con.execute("SET TimeZone='UTC'")
    return con


def _lock(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET enable_external_access=false")
    con.execute("SET lock_configuration=true")


def bind_version(
    steps: Sequence[Step],
    order: Sequence[str],
    existing: Mapping[str, Columns],
    parameters: Mapping[str, Any],
    memory_limit: str = "256MB",
) -> Binding:
    """Bind ``steps`` (valid ones, taken in ``order``: dependency order) against the columns
    of the ``existing`` datasets they read; ``parameters`` are a typed value per name."""
    import duckdb

    found = Binding()
    by_name = {s.name: s for s in steps}
    writer = {o: s.name for s in steps for o in s.config.output_datasets}
    read = {i for s in steps for i in s.config.input_datasets}  # outputs worth a table
    known: dict[str, Columns] = {}  # every table created in the connection
    unbound: set[str] = set()  # datasets whose columns are not known
    con = _open(memory_limit)
    try:
        _lock(con)
        for name in order:
            step = by_name[name]
            config = step.config
            missing = [d for d in config.input_datasets if d not in known and d not in existing]
            blocked = [d for d in missing if d in unbound or d in writer]
            absent = [d for d in missing if d not in blocked]
            for i, dataset in enumerate(config.input_datasets):
                if dataset in absent:
                    found.warnings.append(
                        Problem(
                            ("steps", name, "config", "input_datasets", i),
                            f"dataset {dataset!r} does not exist yet, so the step's SQL was not "
                            "checked against its columns",
                            "dataset.not_found",
                        )
                    )
            if missing:
                unbound.update(config.output_datasets)
                continue
            for dataset in config.input_datasets:
                if dataset not in known:
                    _create(con, dataset, existing[dataset])
                    known[dataset] = list(existing[dataset])
            outputs, problems = _bind_step(con, step, parameters, known)
            found.problems += problems
            if outputs is None:
                unbound.update(config.output_datasets)
                continue
            found.output_schemas[name] = outputs
            for dataset, columns in outputs.items():
                if dataset not in read:
                    continue
                if dataset in known:  # an existing dataset the version writes anew
                    con.execute(f"DROP TABLE {quote(dataset)}")
                _create(con, dataset, columns)
                known[dataset] = columns
    except duckdb.Error as err:  # a limit of the binding connection itself
        found.problems.append(
            Problem(("steps",), f"the version's SQL could not be checked: {err}", "sql.bind")
        )
    finally:
        con.close()
    return found


def _create(con: duckdb.DuckDBPyConnection, name: str, columns: Columns) -> None:
    if not columns:  # a table needs a column; a dataset without any has nothing to read
        columns = [("__headrace_empty", "INTEGER")]
    body = ", ".join(f"{quote(c)} {t}" for c, t in columns)
    con.execute(f"CREATE TABLE {quote(name)} ({body})")


@dataclass
class _Text:
    """The user's SQL with unknown columns replaced by NULL, and how to map a position in
    it back to the SQL as written."""

    original: str
    current: str
    edits: list[tuple[int, int]] = field(default_factory=list)  # (start, removed length)

    def replace(self, start: int, length: int) -> None:
        self.current = self.current[:start] + "NULL" + self.current[start + length :]
        self.edits.append((start, length))

    def origin(self, at: int) -> int:
        for start, length in reversed(self.edits):
            if at >= start + 4:
                at += length - 4
            elif at >= start:
                at = start
        return at


def _bind_step(
    con: duckdb.DuckDBPyConnection,
    step: Step,
    parameters: Mapping[str, Any],
    known: Mapping[str, Columns],
) -> tuple[dict[str, Columns] | None, list[Problem]]:
    """The step's outputs' columns (None when they cannot be inferred) and its problems."""
    import duckdb

    config = step.config
    loc: Loc = ("steps", step.name, "config", "query")
    query = config.query.strip().rstrip(";")
    script = len(config.output_datasets) > 1
    used = {p: parameters[p] for p in _PARAMETER.findall(query) if p in parameters}
    # A view cannot take parameters: a script that uses some creates its tables (from empty
    # inputs, in the transaction that is rolled back).
    views = script and not used
    text = _Text(query, _CREATE_TABLE.sub(r"\1VIEW ", query) if views else query)
    columns = sorted({c for d in config.input_datasets for c, _ in known.get(d, [])})
    problems: list[Problem] = []
    for _ in range(MAX_ROUNDS):
        try:
            if script:
                return _bind_script(con, text.current, used, config.output_datasets), problems
            rows = con.execute(f"{_DESCRIBE}{text.current}", used).fetchall()
            return {config.output_datasets[0]: [(str(r[0]), str(r[1])) for r in rows]}, problems
        except duckdb.Error as err:
            fields = _fields(str(err))
            offset = 0 if script else len(_DESCRIBE)
            problem, span = _problem(fields, text, offset, columns, loc)
            problems.append(problem)
            if span is None:
                return None, problems
            text.replace(*span)
    return None, problems


def _bind_script(
    con: duckdb.DuckDBPyConnection, script: str, used: Mapping[str, Any], outputs: Sequence[str]
) -> dict[str, Columns]:
    """Each statement binds its own parameters, as the step's process binds them."""
    con.execute("BEGIN")
    try:
        for statement in con.extract_statements(script):
            names = statement.named_parameters
            con.execute(statement, {n: used.get(n) for n in names} if names else None)
        found = {}
        for name in outputs:
            rows = con.execute(f"{_DESCRIBE}{quote(name)}").fetchall()
            found[name] = [(str(r[0]), str(r[1])) for r in rows]
        return found
    finally:
        con.execute("ROLLBACK")


def _fields(message: str) -> dict[str, str]:
    kind, _, rest = message.partition(": ")
    try:
        fields = json.loads(rest)
    except ValueError:
        return {"exception_type": kind, "exception_message": rest or message}
    return fields if isinstance(fields, dict) else {"exception_message": message}


def _closest(name: str, candidates: Sequence[str]) -> list[str]:
    return difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)


def _problem(
    fields: Mapping[str, str], text: _Text, offset: int, columns: Sequence[str], loc: Loc
) -> tuple[Problem, tuple[int, int] | None]:
    """The problem DuckDB's error describes, in the user's terms, and the span of an unknown
    column reference to replace (None when binding cannot go on)."""
    message = str(fields.get("exception_message", "")).split("\n")[0].rstrip("!. ")
    location = re.fullmatch(r"\[(\d+),(\d+)\]", str(fields.get("location", "")))
    span = None
    quoted = ""
    if location is not None:
        start, length = int(location.group(1)) - offset, int(location.group(2))
        if 0 <= start < len(text.current):
            quoted = quote_at(text.original, text.origin(start), length)
            span = (start, length)
    missing = re.search(r'column(?: named)? "([^"]+)"', message)
    kind = str(fields.get("exception_type", ""))
    unknown = "not found" in message or "does not have a column" in message
    if kind == "Binder" and missing is not None and unknown:
        column = missing.group(1)
        offered = [c.strip().strip('"') for c in str(fields.get("candidates", "")).split(",")]
        named = [c.rsplit(".", 1)[-1] for c in offered if c]
        suggestions = _closest(column, [*dict.fromkeys([*named, *columns])])
        hint = (
            " (did you mean " + " or ".join(repr(s) for s in suggestions) + "?)"
            if suggestions
            else ""
        )
        text_msg = f"unknown column {column!r}: the step's inputs have no such column{hint}"
        return Problem(loc, text_msg + quoted, "sql.unknown_column"), span
    if kind == "Catalog" and fields.get("type") == "Table":
        table = str(fields.get("name", ""))
        return Problem(loc, f"unknown table {table!r}{quoted}", "sql.unknown_table"), None
    type_ = "sql.type_error" if kind == "Binder" else "sql.bind"
    return Problem(loc, f"{kind} error: {message}{quoted}", type_), None
