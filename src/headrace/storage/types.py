"""DuckDB column types that a Delta table cannot hold, and the casts that make them storable.

Measured in ``shared/notes/delta-duckdb.md`` §2: HUGEINT is written to Parquet as DOUBLE
(precision loss), TIMESTAMP_NS makes the table unreadable, UUID and INTERVAL become opaque
binary, TIME and NULL-typed columns have no Delta type, unsigned integers overflow the signed
Delta types; JSON would land as an ``arrow.json`` extension type, so it is stored as text.
Top-level columns of those types are cast; nested ones (lists, structs) are left to fail
loudly at write time rather than be silently rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence

_CASTS = {
    "HUGEINT": "DECIMAL(38, 0)",
    "UHUGEINT": "DECIMAL(38, 0)",
    "UBIGINT": "DECIMAL(20, 0)",
    "UINTEGER": "BIGINT",
    "USMALLINT": "INTEGER",
    "UTINYINT": "SMALLINT",
    "TIMESTAMP_NS": "TIMESTAMP",
    "TIME": "VARCHAR",
    "TIME WITH TIME ZONE": "VARCHAR",
    "INTERVAL": "VARCHAR",
    "UUID": "VARCHAR",
    "JSON": "VARCHAR",
    '"NULL"': "VARCHAR",
    "NULL": "VARCHAR",
}


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def storable_select(columns: Sequence[str], types: Sequence[str]) -> str:
    """The select list that reads every column as a type Delta can store."""
    parts = []
    for name, type_ in zip(columns, types, strict=True):
        target = _CASTS.get(type_.upper())
        if target is None and type_.upper().startswith("ENUM("):
            target = "VARCHAR"
        q = quote(name)
        parts.append(f"CAST({q} AS {target}) AS {q}" if target else q)
    return ", ".join(parts) if parts else "*"
