"""The trusted DuckDB connection the service itself uses (uploads, previews, downloads).

Only our own SQL runs here, over files whose paths we made; users' SQL runs in the locked
sandbox of ``execution/sandbox.py`` instead. No extension is ever loaded (they download at
run time, which fails offline), Python variables are not tables, and timestamps with a zone
come out as "UTC", the only zone name Delta accepts.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


class ServiceDuck:
    """The service's one in-memory DuckDB database, opened (and DuckDB imported) on first
    use: opening one is slow, a cursor on it almost free. Nothing persistent is
    ever created in it (views are TEMP). Owned by the ``Runtime``, which closes it.

    ``memory_limit`` (DuckDB's, for the whole database: every request together) keeps a
    dataset that decompresses to gigabytes from taking the process's memory: a query that
    needs more fails with DuckDB's out-of-memory error (``reading.py`` makes it a 413)."""

    def __init__(self, memory_limit: str | None = None) -> None:
        self.memory_limit = memory_limit
        self._lock = threading.Lock()
        self._database: duckdb.DuckDBPyConnection | None = None
        self._closed = False

    def _shared(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._closed:
                raise RuntimeError("the service DuckDB database is closed")
            if self._database is None:
                import duckdb  # on first use: a process whose steps run elsewhere never loads it

                self._database = duckdb.connect(
                    config={
                        "autoinstall_known_extensions": False,
                        "autoload_known_extensions": False,
                        "allow_community_extensions": False,
                        "python_enable_replacements": False,
                        **({"memory_limit": self.memory_limit} if self.memory_limit else {}),
                    }
                )
            return self._database

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own (a cursor of the shared database); close it when done."""
        con = self._shared().cursor()
        con.execute("SET TimeZone='UTC'")
        return con

    def close(self) -> None:
        """Close the database (its open cursors with it); later ``connect()`` calls fail."""
        with self._lock:
            self._closed = True
            if self._database is not None:
                self._database.close()
                self._database = None


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def literal_list(values: list[str]) -> str:
    """A SQL list of string literals."""
    return "[" + ", ".join(literal(v) for v in values) + "]"
