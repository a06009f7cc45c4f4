"""Rows merged by key into a Delta table as one new version (deltalake's MERGE).

The rows arrive as JSON. DuckDB types them: existing columns keep the table's types, declared
types (``data_schema``) type new columns, the rest are inferred. A row replaces the stored row
with the same key entirely (fields it leaves out become NULL); rows with a new key are
inserted. The first write of a table is an ordinary COPY + commit, as for an upload.

The merge builds on the version the catalog recorded: a newer commit left unrecorded by a
writer that died is rolled back first (``unrecorded.py``).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

from headrace.domain.columns import unreadable_names
from headrace.domain.problems import Problem
from headrace.errors import Conflict, InvalidInput
from headrace.storage import delta, retry, unrecorded
from headrace.storage.duck import ServiceDuck, literal
from headrace.storage.ingest import write_version
from headrace.storage.types import quote, storable_select

_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?(\[\])*$")
_LINE = re.compile(r"\bline (\d+)")


def duck_types(duck: ServiceDuck, schema: pa.Schema) -> dict[str, str]:
    """The DuckDB type of each column of an Arrow (Delta) schema."""
    con = duck.connect()
    try:
        relation = con.from_arrow(schema.empty_table())
        return {name: str(t) for name, t in zip(relation.columns, relation.types, strict=True)}
    finally:
        con.close()


def current_columns(
    duck: ServiceDuck, table: str, recorded: int | None, grace_seconds: float
) -> dict[str, str] | None:
    """The DuckDB-typed columns of the version a merge builds on (``unrecorded.settle``, which
    may roll back an abandoned commit), or None when it writes the table anew."""
    base = unrecorded.settle(table, recorded, grace_seconds).base
    return None if base is None else duck_types(duck, pa.schema(base.schema().to_arrow()))


def resolve_types(duck: ServiceDuck, declared: Mapping[str, str]) -> dict[str, str]:
    """DuckDB's own name for each declared type; 422 for a type DuckDB does not know."""
    problems: list[Problem] = []
    resolved: dict[str, str] = {}
    con = duck.connect()
    try:
        for name, type_name in declared.items():
            loc = ("body", "data_schema", name)
            if not _TYPE_NAME.match(type_name.strip()):
                problems.append(Problem(loc, f"{type_name!r} is not a type name", "type.invalid"))
                continue
            try:
                resolved[name] = str(con.sql(f"SELECT CAST(NULL AS {type_name}) AS x").types[0])
            except duckdb.Error:
                problems.append(Problem(loc, f"{type_name!r} is not a known type", "type.unknown"))
    finally:
        con.close()
    if problems:
        raise InvalidInput("data_schema names types that are not valid", problems)
    return resolved


def _struct(columns: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{literal(n)}: {literal(t)}" for n, t in columns.items()) + "}"


def _infer(con: duckdb.DuckDBPyConnection, path: str, known: Mapping[str, str]) -> dict[str, str]:
    """Every column of the rows with its type: ``known`` ones as given, the rest inferred."""
    relation = con.sql(
        f"SELECT * FROM read_json({literal(path)}, format='newline_delimited', records=true, "
        "sample_size=-1)"
    )
    inferred = dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))
    mixed = [n for n, t in inferred.items() if n not in known and "JSON" in t.upper()]
    if mixed:
        raise InvalidInput(
            "some fields mix kinds of values that cannot share one type",
            [
                Problem(
                    ("body", "data", "*", n),
                    f"{n!r} holds values of different kinds",
                    "field.mixed_types",
                )
                for n in mixed
            ],
        )
    unreadable = [
        Problem(("body", "data", "*", name), msg, "field.name")
        for name, msg in unreadable_names(n for n in inferred if n not in known)
    ]
    if unreadable:
        raise InvalidInput(f"some fields cannot be columns: {unreadable[0].msg}", unreadable)
    return {**known, **{n: t for n, t in inferred.items() if n not in known}}


def _refusal(err: duckdb.Error) -> InvalidInput:
    msg = str(err).split("\n")[0]
    msg = re.sub(r"^[A-Za-z ]*Error: ", "", msg)
    msg = re.sub(r' in file "[^"]*"', "", msg)
    line = _LINE.search(msg)
    loc: tuple[str | int, ...] = ("body", "data")
    if line:
        loc = (*loc, int(line.group(1)) - 1)
    return InvalidInput(f"the rows do not fit the dataset: {msg}", [Problem(loc, msg, "row.cast")])


def _written(table: DeltaTable) -> delta.WrittenVersion:
    adds = pa.table(table.get_add_actions(flatten=True))
    rows = sum(n or 0 for n in adds.column("num_records").to_pylist()) if adds.num_rows else 0
    size = sum(adds.column("size_bytes").to_pylist()) if adds.num_rows else 0
    return delta.WrittenVersion(
        version=int(table.version()),
        row_count=int(rows),
        bytes=int(size),
        schema=delta.schema_fields(pa.schema(table.schema().to_arrow())),
    )


# deltalake's MERGE parses column names itself and fails (or finds another column) on a
# backtick in one, whatever the quoting: such names are refused before anything is written.
_UNMERGEABLE = "`"


def _unmergeable_names(
    key: str, rows: Sequence[Mapping[str, Any]], known: Mapping[str, str]
) -> InvalidInput | None:
    problems: list[Problem] = []
    why = f"a name with {_UNMERGEABLE} cannot be merged by"
    if _UNMERGEABLE in key:
        problems.append(Problem(("body", "row_unique_identifier"), why, "name.unmergeable"))
    fields: dict[str, tuple[str | int, ...]] = {
        n: ("body", "data", i, n) for i, row in enumerate(rows) for n in row
    }
    fields.update({n: ("body", "data_schema", n) for n in known if n not in fields})
    problems += [
        Problem(loc, why, "name.unmergeable")
        for n, loc in fields.items()
        if _UNMERGEABLE in n and n != key
    ]
    if not problems:
        return None
    return InvalidInput(
        f"column names with {_UNMERGEABLE} cannot be upserted; rename them", problems
    )


def _merge(base: DeltaTable, source: pa.Table, key: str, *, allow_new_columns: bool) -> None:
    k = quote(key)
    (
        base.merge(
            source,
            predicate=f"t.{k} = s.{k}",
            source_alias="s",
            target_alias="t",
            merge_schema=allow_new_columns,
            post_commithook_properties=delta.keep_log(),
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )


def upsert(
    duck: ServiceDuck,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    key: str,
    *,
    recorded: int | None,
    grace_seconds: float,
    declared: Mapping[str, str],
    allow_new_columns: bool,
    scratch: str,
    admit: Callable[[int], None] | None = None,
) -> delta.WrittenVersion:
    """Merge ``rows`` by ``key`` into ``table`` (created when missing) as a new version, on
    top of the catalog's current version ``recorded`` (``unrecorded.settle``). ``scratch`` is
    a folder for the rows' temporary JSON lines file.

    ``admit`` may refuse the new version's bytes (a storage quota) before anything is
    committed: a first write's files, or for a merge the bytes of the version it builds on
    plus the rows' Arrow size (the merge rewrites the files holding the rows it updates and
    adds files for the others, so the version grows by about that much at most).

    When another writer commits first, the merge is recomputed on a fresh snapshot."""
    os.makedirs(scratch, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix="upsert-", suffix=".jsonl", dir=scratch)
    con = duck.connect()
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
        base = unrecorded.settle(table, recorded, grace_seconds).base
        known = duck_types(duck, pa.schema(base.schema().to_arrow())) if base is not None else {}
        known = {**known, **{n: t for n, t in declared.items() if n not in known}}
        refused = _unmergeable_names(key, rows, known)
        if refused is not None:
            raise refused
        arrow: pa.Table | None = None
        try:
            columns = _infer(con, path, known)
            source = (
                f"read_json({literal(path)}, format='newline_delimited', records=true, "
                f"columns={_struct(columns)})"
            )
            select = (
                f"SELECT {storable_select(list(columns), list(columns.values()))} FROM {source}"
            )

            def produce(folder: str) -> list[tuple[Any, ...]]:
                target = literal(os.path.join(folder, "part-0.parquet"))
                return con.execute(
                    f"COPY ({select}) TO {target} (FORMAT parquet, RETURN_STATS)"
                ).fetchall()

            def merge(onto: DeltaTable | None) -> delta.WrittenVersion:
                nonlocal arrow
                if onto is None:  # a new table, or one with nothing recorded to merge into
                    return write_version(table, produce, admit)
                arrow = arrow if arrow is not None else con.sql(select).to_arrow_table()
                if admit is not None:
                    admit(_written(onto).bytes + arrow.nbytes)
                _merge(onto, arrow, key, allow_new_columns=allow_new_columns)
                return _written(onto)

            written, _ = retry.until_committed(
                merge, base, lambda _: unrecorded.settle(table, recorded, grace_seconds).base
            )
            return written
        except duckdb.Error as err:
            raise _refusal(err) from err
        except delta.CommitFailedError:
            raise Conflict("other writes to this dataset kept landing first; try again") from None
    finally:
        con.close()
        os.remove(path)
