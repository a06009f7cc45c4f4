"""The locked DuckDB connection a step's SQL runs in.

The order is forced by DuckDB (``shared/notes/deps.md`` §3): the views and the allowed paths
first, then ``enable_external_access=false``, then ``lock_configuration=true``. After that the
SQL can read exactly the Parquet files of its pinned input versions and write only into the
fresh folders of its own outputs; no other file, no network, no extension, no setting.
"""

from __future__ import annotations

import atexit
import os
import queue
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from headrace.storage.delta import Snapshot
from headrace.storage.types import quote


@dataclass(frozen=True)
class SandboxLimits:
    memory_limit: str
    threads: int
    max_temp_size: str = "20GB"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_literal(v) for v in values) + "]"


class SandboxPool:
    """Fresh DuckDB databases made ahead of time by a background thread.

    ``duckdb.connect()`` costs about 40 ms, which would otherwise sit on the critical path of
    every step. Each database serves exactly one step and is closed after it: nothing a step
    did can be seen by the next.
    """

    def __init__(self, limits: SandboxLimits, size: int = 2) -> None:
        self.limits = limits
        self._ready: queue.Queue[duckdb.DuckDBPyConnection] = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._fill, name="headrace-sandbox-pool", daemon=True
        )
        self._thread.start()
        # A daemon thread still inside duckdb.connect() when the interpreter finalises aborts
        # the process (SIGABRT, "exception not rethrown"): a `headrace step exec` pod whose step
        # succeeded would exit 134. Stop the filler before finalisation instead.
        atexit.register(self.close)

    def close(self) -> None:
        """Stop making databases (waits for the one being made)."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "allow_community_extensions": False,
                "python_enable_replacements": False,
                "memory_limit": self.limits.memory_limit,
                "threads": self.limits.threads,
            }
        )

    def _fill(self) -> None:
        while not self._stop.is_set():
            con = self._connect()
            while not self._stop.is_set():
                try:
                    self._ready.put(con, timeout=0.1)
                    break
                except queue.Full:
                    continue
            else:
                con.close()

    def take(self) -> duckdb.DuckDBPyConnection:
        """A never-used connection: from the pool when one is ready, else made now."""
        try:
            return self._ready.get_nowait()
        except queue.Empty:
            return self._connect()


def open_sandbox(
    con: duckdb.DuckDBPyConnection,
    inputs: Mapping[str, Snapshot],
    write_folders: Sequence[str],
    limits: SandboxLimits,
    spill_folder: str,
) -> duckdb.DuckDBPyConnection:
    """Lock ``con`` (fresh from a ``SandboxPool``) down for one step; each input dataset
    becomes a view named like the dataset."""
    try:
        con.execute(f"SET temp_directory={_literal(spill_folder)}")
        con.execute(f"SET max_temp_directory_size={_literal(limits.max_temp_size)}")
        con.execute("SET TimeZone='UTC'")
        files: list[str] = []
        for name, snap in inputs.items():
            if snap.files:
                con.execute(
                    f"CREATE VIEW {quote(name)} AS SELECT * FROM "
                    f"read_parquet({_list(snap.files)}, union_by_name=true)"
                )
                files += snap.files
            else:
                # An empty version has no file to read; an empty table keeps its columns.
                empty = pa.table({f.name: pa.array([], f.type) for f in snap.schema})
                con.register(f"__empty_{len(files)}_{name}", empty)
                con.execute(
                    f"CREATE VIEW {quote(name)} AS SELECT * FROM "
                    f"{quote(f'__empty_{len(files)}_{name}')}"
                )
        if files:
            con.execute(f"SET allowed_paths={_list(files)}")
        folders = [os.path.join(f, "") for f in write_folders]
        if folders:
            con.execute(f"SET allowed_directories={_list(folders)}")
        con.execute("SET enable_external_access=false")
        con.execute("SET lock_configuration=true")
    except BaseException:
        con.close()
        raise
    return con


def spill_folder() -> tempfile.TemporaryDirectory[str]:
    """An empty, private spill folder for one step (DuckDB adds it to the allowed folders)."""
    return tempfile.TemporaryDirectory(prefix="headrace-spill-")
