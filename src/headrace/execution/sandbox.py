"""The locked DuckDB connection a step's SQL runs in.

The order is forced by DuckDB (``shared/notes/deps.md`` §3): the views and the allowed paths
first, then ``enable_external_access=false``, then ``lock_configuration=true``. After that the
SQL can read exactly the Parquet files of its pinned input versions and write only into the
fresh folders of its own outputs; no other file, no network, no extension, no setting.
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from headrace.execution.sql_errors import UserSql, restate
from headrace.execution.step_process import parse_bytes
from headrace.storage.types import quote, storable_select

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class StepInput:
    """One pinned input version as the step's process needs it: its Parquet files, and its
    columns with their DuckDB types for a version that has no file. Plain strings, so a step
    process imports neither pyarrow nor deltalake, and each is smaller and starts sooner."""

    files: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SandboxLimits:
    memory_limit: str  # what the step's process may grow by: settings.step_memory_limit
    threads: int
    max_temp_size: str = "20GB"  # settings.step_spill_limit
    output_max_bytes: int = 0  # settings.step_output_max_bytes; 0: no limit


class OutputTooLarge(Exception):
    """The step's outputs grew past ``SandboxLimits.output_max_bytes``: its own doing, so the
    step is Failed (not Error), and nothing it wrote is committed."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the step's output grew past {limit:,} bytes, the most a step may write "
            "(HEADRACE_STEP_OUTPUT_MAX_BYTES), so it was stopped and nothing was kept"
        )
        self.limit = limit

    def __reduce__(self) -> tuple[type[OutputTooLarge], tuple[int]]:
        return OutputTooLarge, (self.limit,)  # sent to the worker as a pickle


WATCH_SECONDS = 0.05  # how often the output folders are measured while the step writes


def folder_bytes(folders: Sequence[str]) -> int:
    """Bytes of the files in ``folders`` (a file just removed counts as nothing)."""
    total = 0
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        total += entry.stat().st_size
                    except FileNotFoundError:
                        continue
        except FileNotFoundError:
            continue
    return total


class _OutputWatch:
    """While the step writes, a thread measures its output folders and interrupts ``con``
    once they pass ``max_bytes``: an endless output stops at the limit, not at the timeout
    after filling the disk (the Parquet writer grows its file by row groups, so the overshoot
    is about one row group). ``check()`` settles it after the writes; 0 watches nothing."""

    def __init__(self, con: duckdb.DuckDBPyConnection, folders: Sequence[str], max_bytes: int):
        self._con = con
        self._folders = folders
        self._max = max_bytes
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="headrace-output-watch")
        self.tripped = False

    def _watch(self) -> None:
        while not self._done.wait(WATCH_SECONDS):
            if folder_bytes(self._folders) > self._max:
                self.tripped = True
                self._con.interrupt()
                return

    def __enter__(self) -> _OutputWatch:
        if self._max > 0:
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def check(self) -> None:
        if self._max > 0 and (self.tripped or folder_bytes(self._folders) > self._max):
            raise OutputTooLarge(self._max)


# DuckDB's memory_limit bounds its buffer manager; a sort's runs and the Parquet writer's
# buffers come on top, and a large sort grows the process past the limit. So DuckDB gets this
# share of the step's limit, and spills sooner.
DUCKDB_SHARE = 0.8


def duckdb_memory_limit(step_limit: str) -> int:
    """Bytes of DuckDB's own ``memory_limit`` for a step promised ``step_limit``."""
    return int(parse_bytes(step_limit) * DUCKDB_SHARE)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list(values: Sequence[str]) -> str:
    return "[" + ", ".join(_literal(v) for v in values) + "]"


def fresh_connection() -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB that can load no extension and see no Python variable; the
    limits and the lock come with ``open_sandbox``. DuckDB is imported here, in the step's
    process: the worker uses this module's plain types only."""
    import duckdb

    return duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            "python_enable_replacements": False,
        }
    )


def open_sandbox(
    con: duckdb.DuckDBPyConnection,
    inputs: Mapping[str, StepInput],
    write_folders: Sequence[str],
    limits: SandboxLimits,
    spill_folder: str,
) -> duckdb.DuckDBPyConnection:
    """Lock ``con`` (from ``fresh_connection``) down for one step; each input dataset becomes
    a view named like the dataset."""
    import duckdb

    try:
        # Every error then carries its message and position apart: ``sql_errors`` restates it.
        con.execute("SET errors_as_json=true")
        con.execute(f"SET memory_limit='{duckdb_memory_limit(limits.memory_limit)}B'")
        con.execute(f"SET threads={int(limits.threads)}")
        con.execute(f"SET temp_directory={_literal(spill_folder)}")
        con.execute(f"SET max_temp_directory_size={_literal(limits.max_temp_size)}")
        con.execute("SET TimeZone='UTC'")
        files: list[str] = []
        for name, step_input in inputs.items():
            if step_input.files:
                con.execute(
                    f"CREATE VIEW {quote(name)} AS SELECT * FROM "
                    f"read_parquet({_list(step_input.files)}, union_by_name=true)"
                )
                files += step_input.files
            else:
                # An empty version has no file to read; an empty table keeps its columns.
                columns = ", ".join(
                    f"CAST(NULL AS {type_}) AS {quote(column)}"
                    for column, type_ in step_input.columns
                )
                con.execute(f"CREATE VIEW {quote(name)} AS SELECT {columns} LIMIT 0")
        if files:
            con.execute(f"SET allowed_paths={_list(files)}")
        folders = [os.path.join(f, "") for f in write_folders]
        if folders:
            con.execute(f"SET allowed_directories={_list(folders)}")
        con.execute("SET enable_external_access=false")
        con.execute("SET lock_configuration=true")
    except duckdb.Error as err:
        con.close()
        paths = {f: f"<input {n}>" for n, i in inputs.items() for f in i.files}
        paths[spill_folder] = "<spill folder>"
        raise type(err)(restate(str(err), None, paths)) from None
    except BaseException:
        con.close()
        raise
    return con


def spill_folder() -> tempfile.TemporaryDirectory[str]:
    """An empty, private spill folder for one step (DuckDB adds it to the allowed folders)."""
    return tempfile.TemporaryDirectory(prefix="headrace-spill-")


def _output_paths(folders: Mapping[str, str], targets: Mapping[str, str]) -> dict[str, str]:
    """Each output's write folder and file, as the user knows them: by the output's name."""
    return {
        **{folder: f"<output {name}>" for name, folder in folders.items()},
        **{target: f"<output {name}>" for name, target in targets.items()},
    }


def write_outputs(
    con: duckdb.DuckDBPyConnection,
    query: str,
    folders: Mapping[str, str],
    max_bytes: int = 0,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, list[tuple[Any, ...]]]:
    """Run a step's SQL in the locked ``con`` and COPY each output (``folders``: output name →
    its write folder) there as Parquet; the RETURN_STATS rows of each. Nothing is committed.
    Past ``max_bytes`` written (0: no limit) the step is stopped with OutputTooLarge; the
    caller removes the folders. ``parameters`` are the values of the ``$name`` the SQL uses,
    bound by DuckDB as typed values (never part of the SQL text)."""
    import duckdb

    query = query.strip().rstrip(";")
    targets = {name: f"{f}/part-{uuid.uuid4().hex}.parquet" for name, f in folders.items()}
    watch = _OutputWatch(con, list(folders.values()), max_bytes)
    try:
        with watch:
            copies = _copy_outputs(
                con, query, targets, _output_paths(folders, targets), parameters or {}
            )
    except duckdb.Error:
        if watch.tripped:  # our interrupt
            raise OutputTooLarge(max_bytes) from None
        raise
    watch.check()
    return copies


def _bound(
    con: duckdb.DuckDBPyConnection, sql: str, parameters: Mapping[str, Any]
) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` (one statement) with the values of the parameters it names."""
    names = set().union(*(s.named_parameters for s in con.extract_statements(sql)))
    if not names:
        return con.execute(sql)
    return con.execute(sql, {n: parameters.get(n) for n in names})


def _copy_outputs(
    con: duckdb.DuckDBPyConnection,
    query: str,
    targets: Mapping[str, str],
    paths: dict[str, str],
    parameters: Mapping[str, Any],
) -> dict[str, list[tuple[Any, ...]]]:
    """COPY each output to its target file. A DuckDB error is raised restated
    (``sql_errors``): it quotes the step's SQL or none. One output's query is described
    (for its columns and types; a view could not take bound parameters) and then written
    with the query itself inside the COPY, so a position DuckDB reports falls either in the
    user's text or in ours, never ambiguously; a script runs statement by statement (DuckDB
    binds parameters in one statement at a time) and its outputs are copied by name."""
    import duckdb

    user: UserSql | None = None
    try:
        if len(targets) == 1:
            [name] = targets
            head = "DESCRIBE "
            user = UserSql(query, len(head))
            described = _bound(con, f"{head}{query}\n", parameters).fetchall()
            select_list = storable_select([r[0] for r in described], [r[1] for r in described])
            head = f"COPY (SELECT {select_list} FROM (\n"
            user = UserSql(query, len(head))
            copy = (
                f"{head}{query}\n) AS {quote(name)}) TO {_literal(targets[name])} "
                "(FORMAT parquet, RETURN_STATS)"
            )
            return {name: _bound(con, copy, parameters).fetchall()}
        user = UserSql(query, 0)
        statements = con.extract_statements(query)
        if any(s.named_parameters for s in statements):
            for statement in statements:
                names = statement.named_parameters
                con.execute(statement, {n: parameters.get(n) for n in names} if names else None)
        else:
            con.execute(query)  # whole, so an error's position is in the user's text
        user = None  # a view of the script's is bound and read again in our COPY statement
        copies = {}
        for name, target in targets.items():
            relation = con.table(name)
            select_list = storable_select(relation.columns, [str(t) for t in relation.types])
            copies[name] = con.execute(
                f"COPY (SELECT {select_list} FROM {quote(name)}) TO {_literal(target)} "
                "(FORMAT parquet, RETURN_STATS)"
            ).fetchall()
        return copies
    except duckdb.Error as err:
        raise type(err)(restate(str(err), user, paths)) from None
