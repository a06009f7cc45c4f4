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

from headrace.storage import delta
from headrace.storage.duck import ServiceDuck, literal, literal_list
from headrace.storage.mirror import pinning


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


def preview(
    duck: ServiceDuck, table: str, version: int, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` rows from ``offset``, in file order, as JSON-safe objects."""
    with _version(duck, table, version) as con:
        result = con.execute(f"SELECT * FROM v LIMIT {int(limit)} OFFSET {int(offset)}")
        columns = [d[0] for d in result.description or []]
        return [
            {c: json_safe(v) for c, v in zip(columns, row, strict=True)}
            for row in result.fetchall()
        ]


def export(duck: ServiceDuck, table: str, version: int, fmt: ExportFormat, target: str) -> None:
    """Write the whole version to the file ``target`` as Parquet or CSV (with a header)."""
    options = "FORMAT parquet" if fmt is ExportFormat.PARQUET else "FORMAT csv, HEADER true"
    with _version(duck, table, version) as con:
        con.execute(f"COPY (SELECT * FROM v) TO {literal(target)} ({options})")
