"""Reading a pinned version: rows as JSON-safe values, or the whole version as a file.

DuckDB reads the version's Parquet files (``read_parquet([...], union_by_name=true)``: a
column added by a later merge is NULL in older files instead of depending on file order). A
version without files (an empty result) is read from an empty Arrow table of its schema.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from headrace.errors import PayloadTooLarge
from headrace.storage import delta
from headrace.storage.duck import ServiceDuck, literal, literal_list
from headrace.storage.mirror import pinning
from headrace.storage.types import quote

# JSON a cell of any type costs at most besides its text: quotes, separators, its name.
_CELL_OVERHEAD = 16


class ExportFormat(enum.StrEnum):
    PARQUET = "parquet"
    CSV = "csv"


def json_safe(value: Any) -> Any:
    """A value JSON can carry without loss: decimals, dates, times and UUIDs as strings,
    bytes as base64, NaN and infinities as strings, nested values converted throughout."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal | uuid.UUID | dt.timedelta):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


@contextmanager
def _version(duck: ServiceDuck, table: str, version: int) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with the version readable as the view ``v`` (its files in an S3
    mirror pinned until the block ends)."""
    with pinning():
        snap = delta.snapshot(table, version)
        con = duck.connect()
        try:
            if snap.files:
                con.execute(
                    f"CREATE TEMP VIEW v AS SELECT * FROM read_parquet({literal_list(snap.files)}, "
                    "union_by_name=true)"
                )
            else:
                con.register("v", snap.schema.empty_table())
            yield con
        finally:
            con.close()


def _out_of_memory_error(err: duckdb.Error) -> bool:
    """DuckDB past its memory_limit: an ``OutOfMemoryException``, or, from the Parquet
    reader, an I/O error saying it failed to allocate."""
    return isinstance(err, duckdb.OutOfMemoryException) or "failed to allocate" in str(err)


def _out_of_memory(what: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{what} needs more memory than this server gives one request; "
        "ask for fewer rows, or for a smaller version"
    )


def cell_size(column: str, type_name: str) -> str:
    """SQL for about how many bytes a value of ``column`` takes as text (0 for fixed-width
    types, whose text is short): strings by their length, binary by its base64, nested
    values by their text."""
    name, upper = quote(column), type_name.upper()
    if upper == "VARCHAR":
        return f"coalesce(strlen({name}), 0)"
    if upper == "BLOB":
        return f"coalesce(octet_length({name}), 0) * 4 // 3"
    if any(n in upper for n in ("[", "STRUCT", "MAP", "UNION", "JSON")):
        return f"coalesce(strlen(CAST({name} AS VARCHAR)), 0)"
    return "0"


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return [(str(r[0]), str(r[1])) for r in described]


def _check_page_size(con: duckdb.DuckDBPyConnection, window: str, max_bytes: int) -> None:
    columns = _columns(con, "v")
    per_row = " + ".join(cell_size(c, t) + f" + {_CELL_OVERHEAD}" for c, t in columns)
    found = con.execute(f"SELECT coalesce(sum({per_row or 0}), 0) FROM ({window})").fetchone()
    size = int((found or (0,))[0])
    if size > max_bytes:
        raise PayloadTooLarge(
            f"these rows come to about {size} bytes, more than the {max_bytes} a page may hold; "
            "ask for fewer rows with limit"
        )


def preview(
    duck: ServiceDuck,
    table: str,
    version: int,
    limit: int,
    offset: int,
    *,
    max_bytes: int | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` rows from ``offset``, in file order, as JSON-safe objects; 413 when
    they would come to more than about ``max_bytes`` of JSON (measured in DuckDB first, so a
    page of huge values is never brought into Python; None: not measured) or need more
    memory than DuckDB has."""
    window = f"SELECT * FROM v LIMIT {int(limit)} OFFSET {int(offset)}"
    with _version(duck, table, version) as con:
        try:
            if max_bytes is not None:
                _check_page_size(con, window, max_bytes)
            result = con.execute(window)
            names = [d[0] for d in result.description or []]
            return [
                {c: json_safe(v) for c, v in zip(names, row, strict=True)}
                for row in result.fetchall()
            ]
        except duckdb.Error as err:
            if _out_of_memory_error(err):
                raise _out_of_memory("reading these rows") from err
            raise


def export(duck: ServiceDuck, table: str, version: int, fmt: ExportFormat, target: str) -> None:
    """Write the whole version to the file ``target`` as Parquet or CSV (with a header); 413
    when DuckDB needs more memory than it has."""
    options = "FORMAT parquet" if fmt is ExportFormat.PARQUET else "FORMAT csv, HEADER true"
    with _version(duck, table, version) as con:
        try:
            con.execute(f"COPY (SELECT * FROM v) TO {literal(target)} ({options})")
        except duckdb.Error as err:
            if _out_of_memory_error(err):
                raise _out_of_memory("writing this version as a file") from err
            raise


def largest_cells(duck: ServiceDuck, source: str, max_bytes: int) -> list[tuple[str, int]]:
    """The columns of the DuckDB relation ``source`` holding a value larger than
    ``max_bytes`` as text, each with its largest value's size. DuckDB measures them a
    vector at a time: no value is brought into Python. 413 when even that needs more memory
    than DuckDB has."""
    con = duck.connect()
    try:
        columns = [(c, cell_size(c, t)) for c, t in _columns(con, source)]
        measured = [(c, e) for c, e in columns if e != "0"]
        if not measured:
            return []
        found = con.execute(
            "SELECT " + ", ".join(f"max({e})" for _, e in measured) + f" FROM {source}"
        ).fetchone()
    except duckdb.Error as err:
        if _out_of_memory_error(err):
            raise _out_of_memory("reading this file") from err
        return []  # an unreadable file is the ingest's to refuse, in its own words
    finally:
        con.close()
    sizes = [int(n or 0) for n in (found or ())]
    return [(c, n) for (c, _), n in zip(measured, sizes, strict=True) if n > max_bytes]
