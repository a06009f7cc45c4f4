"""A local Delta table's log, read and extended by file name, never by listing it.

delta-rs finds a table's commits by listing ``_delta_log``: on every open, and twice on
every commit (the newest version before writing, the new snapshot after). On an object store
that listing starts after the last checkpoint (S3 ``start-after``); on a local filesystem it
reads the whole folder, one entry per version ever written, since headrace keeps every log
entry (``delta.keep_log``). So a local table's state is found here the way the Delta protocol
names its files: the checkpoint from ``_last_checkpoint`` (for an older version, by probing
checkpoint names downwards), then the commits after it by number; the newest version by
probing commit names (a commit's number follows the one before without gaps); a new commit
is the next number, created only if absent (a hard link: of two racing writers one finds it
taken).

What this does not follow (a multi-part or V2 checkpoint it would need, a reader feature
beyond the ones headrace checks, a partitioned table, a missing commit) makes it answer None,
and the caller uses delta-rs.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:  # imported where used: a table is opened long before anything needs them
    import pyarrow as pa

LOG_FOLDER = "_delta_log"
# Reader features whose meaning headrace checks itself (``TableState.readable``); a table
# with any other is left to delta-rs.
_KNOWN_READER_FEATURES = frozenset({"timestampNtz", "deletionVectors", "columnMapping"})
# How far below a version a checkpoint is looked for by name (delta-rs writes one every 100
# versions); past that without one, delta-rs opens the version.
CHECKPOINT_PROBES = 1000


def log_entry(table: str, version: int) -> str:
    """Where the commit of ``version`` is (a path, or an object store's URI): the log names
    each commit by its number."""
    return f"{table}/{LOG_FOLDER}/{version:020d}.json"


def _checkpoint(table: str, version: int) -> str:
    return os.path.join(table, LOG_FOLDER, f"{version:020d}.checkpoint.parquet")


class _Unsupported(Exception):
    """The log holds something this reader leaves to delta-rs."""


@dataclass(frozen=True)
class TableState:
    """One version of a table as its log describes it: what a read needs and what the next
    commit builds on. ``version()`` answers like a ``DeltaTable``'s."""

    table: str
    at: int
    files: Mapping[str, int]  # each data file, by its path in the log, and its size
    schema_string: str
    configuration: Mapping[str, str]
    reader_features: frozenset[str]
    with_deletion_vectors: frozenset[str]  # the files that carry one

    def version(self) -> int:
        return self.at

    def readable(self) -> bool:
        """False for a table whose files the fast read path would misread."""
        mapping = self.configuration.get("delta.columnMapping.mode", "none")
        features = {"deletionVectors", "columnMapping"} & self.reader_features
        return not (self.with_deletion_vectors or features or mapping != "none")

    def uris(self) -> list[str]:
        return [os.path.join(self.table, unquote(path)) for path in self.files]

    def arrow_schema(self) -> pa.Schema:
        import pyarrow as pa
        from deltalake import Schema

        return pa.schema(Schema.from_json(self.schema_string).to_arrow())


@dataclass
class _Replay:
    """A state being built from a checkpoint and the commits after it."""

    files: dict[str, int] = field(default_factory=dict)
    with_dv: set[str] = field(default_factory=set)
    schema_string: str | None = None
    configuration: dict[str, str] = field(default_factory=dict)
    reader_features: frozenset[str] = frozenset()

    @classmethod
    def of(cls, state: TableState) -> _Replay:
        return cls(
            files=dict(state.files),
            with_dv=set(state.with_deletion_vectors),
            schema_string=state.schema_string,
            configuration=dict(state.configuration),
            reader_features=state.reader_features,
        )

    def add(self, path: str, size: int, dv: bool) -> None:
        self.files[path] = size
        if dv:
            self.with_dv.add(path)
        else:
            self.with_dv.discard(path)

    def remove(self, path: str) -> None:
        self.files.pop(path, None)
        self.with_dv.discard(path)

    def metadata(self, schema_string: str, configuration: Mapping[str, str], parts: Any) -> None:
        if parts:
            raise _Unsupported("partitioned")
        self.schema_string = schema_string
        self.configuration = dict(configuration)

    def protocol(self, reader_version: int, features: Iterable[str] | None) -> None:
        found = frozenset(features or ())
        if reader_version > 3 or found - _KNOWN_READER_FEATURES:
            raise _Unsupported("reader features")
        self.reader_features = found

    def apply(self, action: Mapping[str, Any]) -> None:
        if (add := action.get("add")) is not None:
            self.add(add["path"], int(add["size"]), bool(add.get("deletionVector")))
        elif (remove := action.get("remove")) is not None:
            self.remove(remove["path"])
        elif (meta := action.get("metaData")) is not None:
            self.metadata(
                meta["schemaString"], meta.get("configuration") or {}, meta.get("partitionColumns")
            )
        elif (proto := action.get("protocol")) is not None:
            self.protocol(int(proto["minReaderVersion"]), proto.get("readerFeatures"))

    def state(self, table: str, version: int) -> TableState:
        if self.schema_string is None:
            raise _Unsupported("no metadata")
        return TableState(
            table=table,
            at=version,
            files=self.files,
            schema_string=self.schema_string,
            configuration=self.configuration,
            reader_features=self.reader_features,
            with_deletion_vectors=frozenset(self.with_dv),
        )


def _last_checkpoint(table: str) -> int | None:
    """The version ``_last_checkpoint`` names, when it is a single-file checkpoint."""
    try:
        with open(os.path.join(table, LOG_FOLDER, "_last_checkpoint"), encoding="utf-8") as f:
            hint = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(hint, dict) or hint.get("parts") or hint.get("v2Checkpoint"):
        return None
    version = hint.get("version")
    return version if isinstance(version, int) else None


def latest(table: str) -> int | None:
    """The newest version (None: no commit at all), found with a few ``stat`` calls: from
    the last checkpoint, commit names are probed at doubling distances, then halved."""
    known = _last_checkpoint(table)
    low = -1 if known is None else known  # a version that exists (-1: none known)
    step = 1
    high = low + step
    while os.path.exists(log_entry(table, high)):
        low = high
        step *= 2
        high = low + step
    while high - low > 1:
        middle = (low + high) // 2
        if os.path.exists(log_entry(table, middle)):
            low = middle
        else:
            high = middle
    return low if low >= 0 else None


def _checkpoint_below(table: str, version: int) -> int | None:
    """The newest single-file checkpoint at or below ``version`` (None: replay from 0)."""
    known = _last_checkpoint(table)
    if known is not None and known <= version and os.path.exists(_checkpoint(table, known)):
        return known
    for candidate in range(version, max(-1, version - CHECKPOINT_PROBES), -1):
        if os.path.exists(_checkpoint(table, candidate)):
            return candidate
    if version >= CHECKPOINT_PROBES:
        raise _Unsupported("no checkpoint near")
    return None


def _valid(column: pa.ChunkedArray) -> list[dict[str, Any]]:
    # Only a checkpoint's reader needs pyarrow's compute functions, and importing them
    # imports numpy where it is installed: not on every process that opens a table.
    import pyarrow.compute as pc

    return column.filter(pc.is_valid(column)).to_pylist()  # type: ignore[no-any-return]


# The checkpoint columns a state needs: reading only these leaves skips the remove actions
# (a checkpoint keeps a week of them: one per version for a table written every minute).
_CHECKPOINT_COLUMNS = (
    "add.path",
    "add.size",
    "add.deletionVector.storageType",
    "metaData.schemaString",
    "metaData.configuration",
    "metaData.partitionColumns",
    "protocol.minReaderVersion",
    "protocol.readerFeatures",
)


def _leaves(fields: Iterable[pa.Field], prefix: str = "") -> Iterator[str]:
    import pyarrow as pa

    for f in fields:
        yield prefix + f.name
        if pa.types.is_struct(f.type):
            yield from _leaves(f.type, f"{prefix}{f.name}.")


def _read_checkpoint(table: str, version: int) -> _Replay:
    import pyarrow as pa
    import pyarrow.parquet as pq

    replay = _Replay()
    try:
        checkpoint = pq.ParquetFile(_checkpoint(table, version))
        present = set(_leaves(checkpoint.schema_arrow))
        columns = checkpoint.read(
            columns=[c for c in _CHECKPOINT_COLUMNS if c in present], use_threads=False
        )
        for proto in _valid(columns["protocol"]):
            replay.protocol(int(proto["minReaderVersion"]), proto.get("readerFeatures"))
        for meta in _valid(columns["metaData"]):
            replay.metadata(
                meta["schemaString"],
                dict(meta.get("configuration") or []),
                meta["partitionColumns"],
            )
        for add in _valid(columns["add"]):
            replay.add(add["path"], int(add["size"]), add.get("deletionVector") is not None)
    except pa.ArrowException as err:
        raise _Unsupported("a checkpoint it cannot read") from err
    return replay


def _replay_commit(table: str, version: int, replay: _Replay) -> None:
    with open(log_entry(table, version), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                replay.apply(json.loads(line))


def load(table: str, version: int) -> TableState | None:
    """The state of ``version`` (None: left to delta-rs, see the module's docstring)."""
    try:
        start = _checkpoint_below(table, version)
        replay = _Replay() if start is None else _read_checkpoint(table, start)
        for v in range(0 if start is None else start + 1, version + 1):
            _replay_commit(table, v, replay)
        return replay.state(table, version)
    except (_Unsupported, FileNotFoundError, KeyError, ValueError):
        return None


def load_latest(table: str) -> TableState | None:
    """The newest state (None: no table, or left to delta-rs)."""
    version = latest(table)
    return None if version is None else load(table, version)


def advance(state: TableState) -> TableState | None:
    """``state`` brought to the newest version by reading only the commits after it (None:
    left to delta-rs)."""
    replay = _Replay.of(state)
    version = state.at
    try:
        while os.path.exists(log_entry(state.table, version + 1)):
            _replay_commit(state.table, version + 1, replay)
            version += 1
        return state if version == state.at else replay.state(state.table, version)
    except (_Unsupported, FileNotFoundError, KeyError, ValueError):
        return None


def append(state: TableState, actions: Iterable[Mapping[str, Any]]) -> None:
    """Write ``actions`` as the commit right after ``state``; FileExistsError when another
    writer took that version first. The commit appears whole or not at all: it is written
    aside, then hard-linked under its name, which fails if the name exists."""
    final = log_entry(state.table, state.at + 1)
    staged = os.path.join(state.table, LOG_FOLDER, f".{uuid.uuid4().hex}.json.tmp")
    with open(staged, "w", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(a, separators=(",", ":")) for a in actions))
    try:
        os.link(staged, final)
    finally:
        os.remove(staged)
