"""Delta Lake tables, written by DuckDB and committed by deltalake.

The fast, correct paths measured in ``shared/notes/delta-duckdb.md``:

- write: DuckDB ``COPY (…) TO '<table>/w-<uuid>/part-<uuid>.parquet' (RETURN_STATS)``, then one
  Delta commit of those files (``create_table_with_add_actions`` for version 0,
  ``create_write_transaction`` after that) with the schema read from the written file;
- read: the Parquet files of a pinned version (``file_uris()``) straight into ``read_parquet``,
  valid only while the table uses neither deletion vectors nor column mapping.

Every write is one atomic commit: until it lands, readers see the previous version, and a
failed write leaves only unreferenced files behind.

A table is a location string: a local folder, or an ``s3://`` URI whose files DuckDB reads
and writes in a local mirror (``objectstore.py``); on the local path nothing else happens.

A local table's log is read and extended by name (``deltalog.py``), not through deltalake,
which lists the whole log folder on every open and commit: one entry per version ever
written, since every version stays readable. deltalake still writes the first version, the
checkpoints, commits that change the schema, and everything on an object store.

pyarrow and deltalake are imported where they are used, not with this module: reading a
local table's files needs neither, and a ``headrace run`` whose steps are all reused commits
nothing. A step that will commit starts importing them in a thread while its SQL runs in its
own process (``import_for_commit``), so the commit does not wait for them either.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from headrace import __version__
from headrace.errors import SystemFailure
from headrace.storage import deltalog, objectstore
from headrace.storage.deltalog import TableState, log_entry

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable, PostCommitHookProperties
    from deltalake.transaction import AddAction

    # What a write builds on: a local table's state read by name, or deltalake's snapshot.
    Base = DeltaTable | TableState

__all__ = ["Snapshot", "WrittenVersion", "commit_copy", "log_entry", "snapshot"]


LOG_FOLDER = deltalog.LOG_FOLDER


def __getattr__(name: str) -> Any:
    """deltalake's ``CommitFailedError`` (a lost race to commit), imported when first used."""
    if name == "CommitFailedError":
        from deltalake.exceptions import CommitFailedError

        return CommitFailedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FOR_COMMIT = ("pyarrow.parquet", "deltalake.transaction")


def import_for_commit() -> None:
    """Start importing what a commit needs in a thread, unless it is imported already: called
    as a step's SQL starts in its own process, it takes the 0.2 s of the imports off the
    step's path. A concurrent import of the same module waits for this one."""
    if not all(name in sys.modules for name in _FOR_COMMIT):
        threading.Thread(target=_import_for_commit, name="headrace-import-delta").start()


def _import_for_commit() -> None:
    for name in _FOR_COMMIT:
        importlib.import_module(name)


@dataclass(frozen=True)
class Snapshot:
    """One readable version of a table: its Parquet files and its schema, read from the
    table's log when first asked for (a step's inputs need only their files)."""

    version: int
    files: list[str]
    read_schema: Callable[[], pa.Schema] = field(repr=False, compare=False)

    @cached_property
    def schema(self) -> pa.Schema:
        return self.read_schema()


@dataclass(frozen=True)
class WrittenVersion:
    """A version a write committed, with what the catalog records of it."""

    version: int
    row_count: int
    bytes: int
    schema: list[dict[str, str]]
    snapshot: Snapshot | None = None  # its files and schema, for readers in this process


def schema_fields(schema: pa.Schema) -> list[dict[str, str]]:
    """A JSON-friendly column list: ``[{"name": …, "type": …}]``."""
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def _options(table: str) -> dict[str, str] | None:
    store = objectstore.store_for(table)
    return store.storage_options if store else None


def _local(table: str) -> str:
    """Where DuckDB reads and writes the table's files: the table, or its local mirror."""
    store = objectstore.store_for(table)
    return store.mirror(table) if store else table


def _open(table: str, version: int | None = None) -> DeltaTable:
    from deltalake import DeltaTable

    return DeltaTable(table, version=version, storage_options=_options(table))


def _exists(table: str) -> bool:
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(table, storage_options=_options(table))


def _by_name(table: str) -> bool:
    """Whether the table's log is read by name (``deltalog``): a local table."""
    return objectstore.store_for(table) is None


_UNREADABLE = (
    "the table uses deletion vectors or column mapping, which headrace does not read; "
    "rewrite it without them"
)


def snapshot(table: str, version: int) -> Snapshot:
    """The files and schema of ``version``; refuses tables the fast read path would misread."""
    state = deltalog.load(table, version) if _by_name(table) else None
    if state is not None:
        if not state.readable():
            raise SystemFailure(_UNREADABLE)
        return Snapshot(version=version, files=state.uris(), read_schema=state.arrow_schema)
    import pyarrow as pa

    dt_ = _open(table, version)
    if not readable(dt_):
        raise SystemFailure(_UNREADABLE)
    store = objectstore.store_for(table)
    files = list(dt_.file_uris())
    schema = pa.schema(dt_.schema().to_arrow())
    return Snapshot(
        version=version,
        files=store.download(files) if store else files,
        read_schema=lambda: schema,
    )


def readable(base: Base) -> bool:
    """False for a table whose files the fast read path would misread."""
    if isinstance(base, TableState):
        return base.readable()
    features = set(base.protocol().reader_features or [])
    mapping = base.metadata().configuration.get("delta.columnMapping.mode", "none")
    return not ({"deletionVectors", "columnMapping"} & features or mapping != "none")


def current_version(table: str) -> int | None:
    """The newest version of the table, or None when there is no table yet."""
    if _by_name(table) and (newest := deltalog.latest(table)) is not None:
        return newest
    if not _exists(table):
        return None
    return int(_open(table).version())


def commit_info(table: str, version: int) -> dict[str, Any]:
    """The ``commitInfo`` of one version (with any custom metadata as top-level keys), read
    from its log entry: ``history()`` numbers its entries down from the newest commit in
    storage, not from the version asked for."""
    entry = log_entry(table, version)
    store = objectstore.store_for(table)
    if store is not None:
        text = store.read(entry).decode()
    else:
        with open(entry, encoding="utf-8") as f:
            text = f.read()
    for line in text.splitlines():
        action = json.loads(line) if line.strip() else {}
        if "commitInfo" in action:
            return dict(action["commitInfo"])
    return {}


def new_write_folder(table: str) -> str:
    """A fresh folder inside the table (or its local mirror) for one write's files
    (created, absolute)."""
    folder = os.path.join(_local(table), f"w-{uuid.uuid4().hex}")
    os.makedirs(folder, exist_ok=False)
    store = objectstore.store_for(table)
    if store is not None:
        store.stage(folder)
    return folder


def _utc(schema: pa.Schema) -> pa.Schema:
    """Delta accepts only the zone name "UTC" (DuckDB writes "Etc/UTC")."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(f.name, pa.timestamp(f.type.unit, "UTC"), f.nullable)
            if pa.types.is_timestamp(f.type) and f.type.tz
            else f
            for f in schema
        ]
    )


def _ts_ms(value: str, round_up: bool) -> str:
    """Delta statistics keep milliseconds: round a minimum down and a maximum up."""
    d = dt.datetime.fromisoformat(value.replace("+00", ""))
    micros = d.microsecond % 1000
    d -= dt.timedelta(microseconds=micros)
    if round_up and micros:
        d += dt.timedelta(milliseconds=1)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}"


_NOT_FINITE = ("nan", "inf", "-inf", "infinity", "-infinity")


def _stats(count: int, column_stats: dict[str, Any] | None, schema: pa.Schema) -> str:
    """Delta ``add.stats`` from DuckDB's RETURN_STATS, so readers can prune files."""
    import pyarrow as pa

    mins: list[str] = []
    maxs: list[str] = []
    nulls: list[str] = []
    for f in schema:
        s = (column_stats or {}).get(f'"{f.name}"') or (column_stats or {}).get(f.name)
        if s is None or pa.types.is_nested(f.type):
            # Delta wants nested stats per leaf field (an object, not a number): leave them out
            continue
        key, t = json.dumps(f.name), f.type
        if s.get("null_count") is not None:
            nulls.append(f"{key}:{int(s['null_count'])}")
        for side, out, up in (("min", mins, False), ("max", maxs, True)):
            v = s.get(side)
            if v is None or s.get(f"{side}_is_exact") != "true":
                continue
            numeric = pa.types.is_integer(t) or pa.types.is_decimal(t)
            finite_float = pa.types.is_floating(t) and v.lower() not in _NOT_FINITE
            if numeric or finite_float:
                out.append(f"{key}:{v}")  # raw JSON number: decimals are not rounded
            elif pa.types.is_string(t):
                out.append(f"{key}:{json.dumps(v)}")
            elif pa.types.is_timestamp(t):
                out.append(f'{key}:"{_ts_ms(v, up)}{"Z" if t.tz else ""}"')
    return (
        f'{{"numRecords":{count},"minValues":{{{",".join(mins)}}},'
        f'"maxValues":{{{",".join(maxs)}}},"nullCount":{{{",".join(nulls)}}}}}'
    )


def commit_copy(
    table: str,
    written: Sequence[tuple[Any, ...]],
    *,
    base: Base | None,
    fallback_schema: pa.Schema | None = None,
    checkpoint: bool = True,
) -> WrittenVersion:
    """Commit the files one DuckDB ``COPY … (RETURN_STATS)`` wrote as a new overwrite version.

    ``base`` is the snapshot opened *before* the COPY, so a concurrent writer that committed
    meanwhile makes this commit fail with ``CommitFailedError`` instead of being overwritten
    unseen. A 0-row result still writes a 0-row file; it is dropped and an empty version
    committed with ``fallback_schema`` or the file's schema. With ``checkpoint`` False the
    commit writes no checkpoint even when one is due (every 100th version): the
    caller writes it afterwards (``checkpoint_if_due``), off the writer's path.
    """
    import pyarrow.parquet as pq

    rows = [tuple(r) for r in written]
    schema = _utc(pq.read_schema(rows[0][0])) if rows else fallback_schema
    if schema is None:
        raise SystemFailure("nothing was written and no schema is known")
    now = int(time.time() * 1000)
    adds: list[tuple[str, int, str]] = []  # path in the table, size, statistics
    empty: list[str] = []
    files: list[str] = []
    total_rows = 0
    for filename, count, size, _footer, column_stats, *_rest in rows:
        if int(count) == 0:
            empty.append(filename)
            continue
        total_rows += int(count)
        files.append(filename)
        path = os.path.relpath(filename, _local(table))
        adds.append((path, int(size), _stats(int(count), column_stats, schema)))
    store = objectstore.store_for(table)
    if store is not None:
        store.upload(table, [r[0] for r in rows if int(r[1])])
    if isinstance(base, TableState) and not _plain_overwrite(base, schema):
        base = _open(table, base.at)  # deltalake writes the new schema
    if base is None:
        version = _create(table, schema, adds, now)
    elif isinstance(base, TableState):
        _append_overwrite(base, adds, now)
        version = base.at + 1
        if checkpoint:
            checkpoint_if_due(base, version)
    else:
        base.create_write_transaction(
            [_add_action(a, now) for a in adds],
            mode="overwrite",
            schema=schema,
            post_commithook_properties=keep_log(checkpoint=checkpoint),
        )
        # An overwrite conflicts with every concurrent commit, so on success ours directly
        # follows the snapshot it was based on.
        version = int(base.version()) + 1
    for filename in empty:  # only after the commit: a retried commit reads the schema again
        os.remove(filename)
    return WrittenVersion(
        version=version,
        row_count=total_rows,
        bytes=sum(size for _, size, _ in adds),
        schema=schema_fields(schema),
        snapshot=Snapshot(version=version, files=files, read_schema=lambda: schema),
    )


def restore(table: str, version: int) -> int:
    """Commit ``version``'s files again as the table's next version, writing no data: the
    new version reads exactly as that one. Returns the new version."""
    _open(table).restore(version, post_commithook_properties=keep_log())
    return int(_open(table).version())


def _add_action(add: tuple[str, int, str], now: int) -> AddAction:
    from deltalake.transaction import AddAction

    path, size, stats = add
    return AddAction(
        path=path,
        size=size,
        partition_values={},
        modification_time=now,
        data_change=True,
        stats=stats,
    )


def _create(table: str, schema: pa.Schema, adds: list[tuple[str, int, str]], now: int) -> int:
    """Version 0 (or the version a racing first writer left for ours), by deltalake."""
    # Two first writers can race. Left to retry, delta-rs rebases the losing create onto
    # the winner as one version holding both writers' files; with no retry it raises
    # CommitFailedError (the caller retries on a fresh base) or, when it already saw the
    # winner's table, replaces it as version 1. So the version is found by a tag of ours.
    from deltalake import CommitProperties, Schema
    from deltalake.transaction import create_table_with_add_actions

    tag = uuid.uuid4().hex
    create_table_with_add_actions(
        table,
        Schema.from_arrow(schema),
        [_add_action(a, now) for a in adds],
        mode="overwrite",
        configuration=KEEP_LOG_CONFIGURATION,
        storage_options=_options(table),
        commit_properties=CommitProperties(custom_metadata={_WRITE_TAG: tag}, max_commit_retries=0),
        post_commithook_properties=keep_log(),
    )
    return _tagged_version(table, tag)


def _plain_overwrite(base: TableState, schema: pa.Schema) -> bool:
    """Whether replacing ``base``'s files under ``schema`` needs nothing but add and remove
    actions: the schema is the table's (else deltalake writes the new metadata and any
    protocol it needs) and the table is one headrace reads."""
    from deltalake import Schema

    if not base.readable():
        return False
    return bool(json.loads(Schema.from_arrow(schema).to_json()) == json.loads(base.schema_string))


def _append_overwrite(base: TableState, adds: list[tuple[str, int, str]], now: int) -> None:
    """The commit after ``base`` replacing its files with ``adds``, written as deltalake
    writes an overwrite; ``CommitFailedError`` when another writer took that version."""
    info = {
        "timestamp": now,
        "operation": "WRITE",
        "operationParameters": {"mode": "Overwrite", "partitionBy": "[]"},
        "engineInfo": _ENGINE,
        "clientVersion": _ENGINE,
    }
    actions: list[dict[str, Any]] = [{"commitInfo": info}]
    for path, size, stats in adds:
        add = {"path": path, "partitionValues": {}, "size": size, "modificationTime": now}
        actions.append({"add": add | {"dataChange": True, "stats": stats}})
    for path, size in base.files.items():
        remove = {"path": path, "dataChange": True, "deletionTimestamp": now}
        actions.append(
            {"remove": remove | {"extendedFileMetadata": True, "partitionValues": {}, "size": size}}
        )
    try:
        deltalog.append(base, actions)
    except FileExistsError:
        from deltalake.exceptions import CommitFailedError

        raise CommitFailedError(
            f"version {base.at + 1} was committed by another writer first"
        ) from None


_ENGINE = f"headrace-{__version__}"

_WRITE_TAG = "headrace.write"

# The table property keeps other Delta writers from removing log entries (see ``keep_log``).
KEEP_LOG_CONFIGURATION = {"delta.enableExpiredLogCleanup": "false"}


def keep_log(*, checkpoint: bool = True) -> PostCommitHookProperties:
    """What follows each commit deltalake makes: the checkpoint due (unless ``checkpoint`` is
    False), and never the removal of a log entry. Every version stays readable; left to its
    defaults, delta-rs deletes at each checkpoint the log entries older than the table's
    logRetentionDuration (30 days) that precede it: those versions' files stay, but the
    versions no longer open ("No files in log segment") while the catalog still lists them."""
    from deltalake import PostCommitHookProperties

    return PostCommitHookProperties(create_checkpoint=checkpoint, cleanup_expired_logs=False)


def checkpoint_if_due(base: Base, version: int) -> None:
    """Write the checkpoint that the commit of ``version``, made with ``checkpoint=False``,
    skipped when delta-rs would have written one then (no log entry is removed: ``keep_log``).
    ``base`` is brought forward to ``version`` or later (a later checkpoint serves as well).
    A state read by name is opened by deltalake at ``version`` for it: deltalake writes the
    checkpoint."""
    if isinstance(base, TableState):
        configuration: Mapping[str, str] = base.configuration
    else:
        configuration = base.metadata().configuration
    interval = int(configuration.get("delta.checkpointInterval", "100"))
    if (version + 1) % interval == 0:
        table = _open(base.table, version) if isinstance(base, TableState) else base
        table.create_checkpoint()


def _tagged_version(table: str, tag: str) -> int:
    """The version whose commit carries ``tag`` in its custom metadata.

    ``history()`` numbers the commits it lists down from the version of the snapshot it
    loaded; a commit landing in between is listed too and shifts the numbers (the oldest
    becomes -1), so such a reading is taken again."""
    for _ in range(20):
        entries = _open(table).history()
        if entries and int(entries[-1]["version"]) >= 0:
            for entry in entries:
                if entry.get(_WRITE_TAG) == tag:
                    return int(entry["version"])
            break
        time.sleep(0.01)
    raise SystemFailure(f"the commit tagged {tag} is not in the history of {table}")


def open_base(table: str) -> Base | None:
    """The snapshot a write builds on, opened *before* the write so races are detected: a
    local table's state read by name when ``deltalog`` follows it, else deltalake's."""
    if _by_name(table) and (state := deltalog.load_latest(table)) is not None:
        return state
    return open_table(table)


def open_table(table: str) -> DeltaTable | None:
    """deltalake's snapshot of the newest version, for the operations deltalake makes
    (merge, restore)."""
    return _open(table) if _exists(table) else None
