"""Parquet files that become a version as they are, without being read or re-encoded.

Re-encoding every row of a source through DuckDB was most of a first ``headrace run``'s cost
on large Parquet sources. A file whose columns all have a type that Delta stores and that
DuckDB's own import would write unchanged (``plain``) is instead placed into the version's
write folder whole, hard-linked when it is ours to give away (an upload's spool file),
copied otherwise (``copy_file_range``, which reflinks on filesystems that can), and committed
with the statistics its footer already holds. Any other file, and one whose footer does not
bound its cells below the cell limit, goes through DuckDB as before (``ingest.py``).

The placed file is byte for byte the user's: the version reads exactly as their file does.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# (path in the write folder, rows, bytes, footer, column statistics): the shape of one
# DuckDB ``COPY … (RETURN_STATS)`` row, which ``delta.commit_copy`` takes.
Written = tuple[str, int, int, None, dict[str, dict[str, str]]]


def _storable_as_is(t: pa.DataType) -> bool:
    """Types DuckDB's import would write unchanged and Delta stores (``types.py`` lists what
    it casts): signed integers, floats, booleans, text, binary, dates, microsecond
    timestamps, decimals. Nested types keep going through DuckDB."""
    return bool(
        pa.types.is_boolean(t)
        or pa.types.is_signed_integer(t)
        or pa.types.is_float32(t)
        or pa.types.is_float64(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_date32(t)
        or (pa.types.is_timestamp(t) and t.unit == "us")
        or (pa.types.is_decimal128(t) and t.precision <= 38)
    )


def plain(path: str) -> pq.FileMetaData | None:
    """The file's footer when the file can become a version as it is; None otherwise (also
    when its footer cannot be read: DuckDB's import then says what is wrong with it)."""
    try:
        meta = pq.ParquetFile(path).metadata
        schema = meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError):
        return None
    names = schema.names
    if not names or len(set(names)) != len(names):
        return None
    return meta if all(_storable_as_is(f.type) for f in schema) else None


def cells_within(meta: pq.FileMetaData, max_bytes: int) -> bool:
    """True when the footer proves no value is larger than ``max_bytes``: each column
    chunk's uncompressed size bounds every value in it."""
    return all(
        meta.row_group(g).column(c).total_uncompressed_size <= max_bytes
        for g in range(meta.num_row_groups)
        for c in range(meta.num_columns)
    )


def _copy(source: str, target: str) -> None:
    """Copy in the kernel; reflinked where the filesystem shares blocks (XFS, Btrfs)."""
    try:
        with open(source, "rb") as src, open(target, "wb") as dst:
            left = os.fstat(src.fileno()).st_size
            while left > 0:
                sent = os.copy_file_range(src.fileno(), dst.fileno(), left)
                if sent == 0:
                    break
                left -= sent
    except OSError:
        shutil.copyfile(source, target)


def place(path: str, meta: pq.FileMetaData, folder: str, *, ours: bool) -> list[Written]:
    """Put the file into ``folder`` (linked when ``ours``, else copied) and describe it as
    ``delta.commit_copy`` expects."""
    target = os.path.join(folder, f"part-{uuid.uuid4().hex}.parquet")
    try:
        if not ours:
            raise OSError("not ours to link")
        os.link(path, target)
    except OSError:  # also across filesystems
        _copy(path, target)
    return [(target, meta.num_rows, os.path.getsize(target), None, statistics(meta))]


def _text(value: Any) -> str:
    """A footer value as DuckDB's RETURN_STATS writes it."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ") + "+00"
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _text_or_binary(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    )


def statistics(meta: pq.FileMetaData) -> dict[str, dict[str, str]]:
    """Per column: null count, and exact minimum and maximum over the row groups. Text and
    binary bounds are left out: a writer may have shortened them, and a bound that is not
    the true one would make a reader skip rows that match."""
    schema = meta.schema.to_arrow_schema()
    found: dict[str, dict[str, str]] = {}
    for c, field in enumerate(schema):
        chunks = [meta.row_group(g).column(c).statistics for g in range(meta.num_row_groups)]
        if not chunks or any(s is None or not s.has_null_count for s in chunks):
            continue
        stats = {"null_count": str(sum(s.null_count for s in chunks))}
        bounded = [s for s in chunks if s.has_min_max]
        # every row group holding a value must bound it (num_values counts non-null ones)
        complete = all(s.has_min_max or s.num_values == 0 for s in chunks)
        if bounded and complete and not _text_or_binary(field.type):
            stats |= {
                "min": _text(min(s.min for s in bounded)),
                "max": _text(max(s.max for s in bounded)),
                "min_is_exact": "true",
                "max_is_exact": "true",
            }
        found[f'"{field.name}"'] = stats
    return found
