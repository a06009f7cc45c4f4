"""The trusted DuckDB connection the service itself uses (uploads, previews, downloads).

Only our own SQL runs here, over files whose paths we made; users' SQL runs in the locked
sandbox of ``execution/sandbox.py`` instead. No extension is ever loaded (they download at
run time, which fails offline), Python variables are not tables, and timestamps with a zone
come out as "UTC", the only zone name Delta accepts.
"""

from __future__ import annotations

import threading

import duckdb

_lock = threading.Lock()
_database: duckdb.DuckDBPyConnection | None = None


def _shared() -> duckdb.DuckDBPyConnection:
    """One in-memory database per process: opening one costs about 70 ms, a cursor on it
    almost nothing. Nothing persistent is ever created in it (views are TEMP)."""
    global _database
    with _lock:
        if _database is None:
            _database = duckdb.connect(
                config={
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                    "allow_community_extensions": False,
                    "python_enable_replacements": False,
                }
            )
        return _database


def connect() -> duckdb.DuckDBPyConnection:
    """A connection of its own (a cursor of the shared database); close it when done."""
    con = _shared().cursor()
    con.execute("SET TimeZone='UTC'")
    return con


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def literal_list(values: list[str]) -> str:
    """A SQL list of string literals."""
    return "[" + ", ".join(literal(v) for v in values) + "]"
