"""The locked DuckDB connection a step's SQL runs in.

The order is forced by DuckDB (``shared/notes/deps.md`` §3): the views and the allowed paths
first, then ``enable_external_access=false``, then ``lock_configuration=true``. After that the
SQL can read exactly the Parquet files of its pinned input versions and write only into the
fresh folders of its own outputs; no other file, no network, no extension, no setting.
"""

from __future__ import annotations

import os
import tempfile
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


def open_sandbox(
    inputs: Mapping[str, Snapshot],
    write_folders: Sequence[str],
    limits: SandboxLimits,
    spill_folder: str,
) -> duckdb.DuckDBPyConnection:
    """A connection where each input dataset is a view named like the dataset."""
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            "python_enable_replacements": False,
            "memory_limit": limits.memory_limit,
            "threads": limits.threads,
            "temp_directory": spill_folder,
            "max_temp_directory_size": limits.max_temp_size,
        }
    )
    try:
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
