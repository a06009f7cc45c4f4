"""Files clients send (CSV, Parquet, JSON lines) turned into a new version of a Delta table.

DuckDB reads the file, every column is cast to a type Delta can store (``types.py``), and one
``COPY … TO '<table>/w-<uuid>/part-<uuid>.parquet'`` writes the version's only file, which is
then committed (``delta.commit_copy``). A file DuckDB cannot read as rows raises InvalidInput
naming the line or column at fault; nothing is committed and the write folder is removed, so
the table stays exactly as it was.

Rules for what a file must be:

- not empty (0 bytes), with at least one and at most ``MAX_COLUMNS`` columns, each name at
  most ``MAX_NAME_CHARS`` long, no column nesting lists and objects more than ``MAX_NESTING``
  levels deep;
- UTF-8 text (CSV, JSON), no line longer than ``MAX_LINE_BYTES``: DuckDB refuses longer lines
  (a JSON one only past twice the limit: it checks per read buffer, which it doubles), and the
  line is then located without reading it whole, so a 100 MB single line costs no memory;
- CSV: a header line, then rows with as many fields as the header, as Python's ``csv`` module
  reads them (``csv_rows.py``: any mix of CR LF, LF and CR line ends, blank lines skipped, an
  empty field is NULL, column names trimmed of spaces); the delimiter is the one of
  ``, ; TAB |`` found most often in the header; a header with no rows is a valid, empty
  version whose columns are all VARCHAR;
- JSON: one object per line (``.jsonl``/``.ndjson``) or, for ``.json``, also one array of
  objects; a field whose values mix kinds (number and string, scalar and object) is refused;
- Parquet: any readable file.
"""

from __future__ import annotations

import csv
import enum
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from typing import Any

import duckdb
from duckdb.sqltypes import DuckDBPyType

from headrace.domain.columns import unreadable_names
from headrace.domain.problems import Problem
from headrace.errors import Conflict, InvalidInput
from headrace.storage import csv_rows, delta, parquet_import, retry
from headrace.storage.duck import ServiceDuck, literal
from headrace.storage.mirror import pinning
from headrace.storage.types import quote, storable_select

MAX_COLUMNS = 1000
MAX_LINE_BYTES = 16 * 1024 * 1024
MAX_NAME_CHARS = 1024  # of a column name
# Lists, structs and maps inside one another in a column: Delta's log parser stops at about
# 45 struct levels and Parquet at about 45 list levels; past this the file is refused.
MAX_NESTING = 30
_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}
_DELIMITERS = (",", ";", "\t", "|")
_JSON_KINDS = {"UBIGINT": "number", "BIGINT": "number", "DOUBLE": "number", "VARCHAR": "string"}
_LINE = re.compile(r"\bline (\d+)")


class Format(enum.StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    JSONL = "jsonl"
    JSON = "json"


_EXTENSIONS = {
    ".csv": Format.CSV,
    ".parquet": Format.PARQUET,
    ".pq": Format.PARQUET,
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
    ".json": Format.JSON,
}
_MEDIA_TYPES = {
    "text/csv": Format.CSV,
    "application/csv": Format.CSV,
    "application/vnd.apache.parquet": Format.PARQUET,
    "application/x-parquet": Format.PARQUET,
    "application/parquet": Format.PARQUET,
    "application/x-ndjson": Format.JSONL,
    "application/ndjson": Format.JSONL,
    "application/jsonl": Format.JSONL,
    "application/json": Format.JSON,
}


def detect_format(filename: str | None, content_type: str | None) -> Format | None:
    """The format named by the file's extension, else by its media type; None if neither."""
    ext = os.path.splitext(filename or "")[1].lower()
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    media = (content_type or "").split(";")[0].strip().lower()
    return _MEDIA_TYPES.get(media)


def _bad(msg: str, type_: str, *loc: str | int) -> InvalidInput:
    return InvalidInput(
        f"the file is not valid: {msg}", [Problem(("body", "file", *loc), msg, type_)]
    )


def _clean(err: Exception, path: str, shown: str) -> str:
    """DuckDB's message, first paragraph only, with our temp path replaced by the file name."""
    text = str(err).replace(path, shown).strip().split("\n\n")[0].strip()
    return re.sub(r"^[A-Za-z ]*Error: ", "", text)


def _encoding_fault(path: str) -> InvalidInput | None:
    """A text file that announces another encoding than UTF-8 with a byte order mark."""
    with open(path, "rb") as f:
        start = f.read(4)
    for bom, name in _BOMS.items():
        if start.startswith(bom):
            return _bad(
                f"the file is {name} text (it starts with a {name} byte order mark); send UTF-8",
                "file.encoding",
            )
    return None


def _line_too_long(number: int) -> InvalidInput:
    return _bad(
        f"line {number} is longer than {MAX_LINE_BYTES} bytes, the most one row may take",
        "file.line_too_long",
        f"line {number}",
    )


def _long_line(path: str) -> InvalidInput | None:
    """The first line longer than ``MAX_LINE_BYTES``, found reading at most that much at once."""
    with open(path, "rb") as f:
        number = 0
        while line := f.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(line) > MAX_LINE_BYTES:
                return _line_too_long(number)
    return None


def _first_line(path: str, limit: int) -> bytes:
    """The file's first line without its end, read up to ``limit`` bytes; a CR alone ends a
    line too (readline stops only at LF)."""
    with open(path, "rb") as f:
        lines = f.readline(limit).splitlines()
    return lines[0] if lines else b""


def _too_wide(count: int) -> InvalidInput:
    return _bad(
        f"the file has {count} columns; at most {MAX_COLUMNS} are accepted", "file.too_many_columns"
    )


def _check_csv_header(path: str, delimiter: str) -> None:
    """Refuse, before DuckDB reads the file, a header that is missing, blank, too long or has
    too many columns (DuckDB takes seconds per thousand columns to sniff a file)."""
    head = _first_line(path, MAX_LINE_BYTES + 1)
    if len(head) > MAX_LINE_BYTES:
        raise _line_too_long(1)
    text = head.decode("utf-8", errors="replace")
    try:
        fields: list[str] = next(csv_rows.reader([text], delimiter, MAX_LINE_BYTES), [])
    except csv.Error:
        return  # not CSV at all: reading it says where
    if not any(f.strip() for f in fields):
        raise _bad("the first line must be a header naming the columns", "csv.header", "line 1")
    if len(fields) > MAX_COLUMNS:
        raise _too_wide(len(fields))


def _sniff_delimiter(path: str) -> str:
    """The delimiter found most often (outside quotes) in the header line; ',' by default."""
    head = _first_line(path, 65536).decode("utf-8", errors="replace")
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in head:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _nesting(type_: DuckDBPyType) -> int:
    """How many levels of lists, arrays, structs, maps and unions a column type nests."""
    deepest, pending = 0, [(type_, 0)]
    while pending:
        current, depth = pending.pop()
        deepest = max(deepest, depth)
        if current.id in ("struct", "list", "map", "array", "union"):
            pending += [
                (child, depth + 1)
                for _, child in current.children
                if isinstance(child, DuckDBPyType)
            ]
    return deepest


def _value_nesting(value: Any) -> int:
    """How many levels of JSON arrays and objects a field's value nests."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, dict | list):
            deepest = max(deepest, depth + 1)
            children = current.values() if isinstance(current, dict) else current
            pending += [(child, depth + 1) for child in children]
    return deepest


def _too_deep(levels: str, *loc: str | int) -> InvalidInput:
    return _bad(
        f"{levels}; at most {MAX_NESTING} levels of lists and objects are accepted",
        "file.too_deep",
        *loc,
    )


def _json_fault(path: str) -> InvalidInput | None:
    """The first line of a JSON lines file that is not a JSON object, found with Python's
    json module (DuckDB's own line numbers run one ahead). None for a JSON array file."""
    fault = _long_line(path)
    if fault is not None:
        return fault
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            text = raw.strip()
            if not text:
                continue
            if number == 1 and text.startswith(b"["):
                return None
            try:
                value = json.loads(text.decode("utf-8"))
            except RecursionError:
                where = f"line {number}"
                return _too_deep(f"{where} nests values too deeply", where)
            except UnicodeDecodeError:
                return _bad(f"line {number} is not UTF-8 text", "json.encoding", f"line {number}")
            except ValueError as err:
                msg = getattr(err, "msg", str(err))
                return _bad(
                    f"line {number} is not valid JSON: {msg}", "json.syntax", f"line {number}"
                )
            if not isinstance(value, dict) or not value:
                return _bad(
                    f"line {number} is not a JSON object with fields",
                    "json.not_rows",
                    f"line {number}",
                )
            depth = max(_value_nesting(v) for v in value.values())
            if depth > MAX_NESTING:
                where = f"line {number}"
                return _too_deep(f"{where} nests values {depth} levels deep", where)
    return None


def _source(path: str, fmt: Format) -> str:
    """The table function that reads the file."""
    p = literal(path)
    if fmt is Format.CSV:
        # Only the plain copy of ``csv_rows`` is read: one delimiter, CR LF line ends, no comment
        # lines, nothing skipped; quoting may make a row a little longer than the original.
        return (
            f"read_csv({p}, header=true, delim=',', quote='\"', escape='\"', comment='', "
            f"skip=0, sample_size=-1, encoding='utf-8', strict_mode=true, "
            f"max_line_size={2 * MAX_LINE_BYTES})"
        )
    if fmt is Format.PARQUET:
        return f"read_parquet({p})"
    layout = "'newline_delimited'" if fmt is Format.JSONL else "'auto'"
    # map_inference_threshold=-1: an object with many keys stays a record (DuckDB would make it
    # a MAP past 200 keys and then refuse it as "not records"), so its width can be checked.
    return (
        f"read_json({p}, format={layout}, records=true, sample_size=-1, "
        f"maximum_object_size={MAX_LINE_BYTES}, map_inference_threshold=-1)"
    )


def _mixed_json_columns(
    con: duckdb.DuckDBPyConnection, source: str, columns: list[str], types: list[str]
) -> list[Problem]:
    """Columns whose values DuckDB could only type as JSON: their kinds do not reconcile.
    Each problem names the column and the first row of each kind."""
    problems: list[Problem] = []
    for name, type_ in zip(columns, types, strict=True):
        if "JSON" not in type_.upper():
            continue
        where = ""
        if type_.upper() == "JSON":
            q = quote(name)
            kinds = con.execute(
                f"SELECT json_type({q}) AS kind, min(n) AS first FROM "
                f"(SELECT {q}, row_number() OVER () AS n FROM {source}) "
                f"WHERE {q} IS NOT NULL GROUP BY kind ORDER BY first"
            ).fetchall()
            where = ": " + ", ".join(
                f"{_JSON_KINDS.get(str(k), str(k).lower())} first in row {n}" for k, n in kinds
            )
        problems.append(
            Problem(
                ("body", "file", name),
                f"column {name!r} mixes kinds of values that cannot share one type{where}",
                "json.mixed_types",
            )
        )
    return problems


def _json_message(msg: str) -> tuple[str, str]:
    if "expected records" in msg or "non-record JSON" in msg:
        return "every row must be a JSON object with at least one field", "json.not_rows"
    return msg, "json.syntax"


def _refusal(err: duckdb.Error, path: str, fmt: Format, shown: str) -> InvalidInput:
    msg = _clean(err, path, shown)
    if fmt is Format.CSV:  # the plain copy failed: DuckDB's first line, never its dialect dump
        return _bad(f"the rows could not be read: {msg.splitlines()[0]}", "csv.unreadable")
    if fmt is Format.PARQUET:
        return _bad(f"not a readable Parquet file ({msg})", "parquet.unreadable")
    fault = _json_fault(path)
    if fault is not None:
        return fault
    text, type_ = _json_message(msg)
    return _bad(_LINE.sub("near line \\1", text), type_)


def copy_file(
    con: duckdb.DuckDBPyConnection, path: str, fmt: Format, folder: str, shown: str
) -> list[tuple[Any, ...]]:
    """Read the file and COPY it, storable, into ``folder``; the RETURN_STATS rows."""
    source = _source(path, fmt)
    try:
        relation = con.sql(f"SELECT * FROM {source}")
        columns, types = relation.columns, [str(t) for t in relation.types]
        if not columns:
            raise _bad("the file has no columns", "file.no_columns")
        if len(columns) > MAX_COLUMNS:
            raise _too_wide(len(columns))
        deep = [
            _too_deep(f"column {name!r} nests values {depth} levels deep", name).problems[0]
            for name, type_ in zip(columns, relation.types, strict=True)
            if (depth := _nesting(type_)) > MAX_NESTING
        ]
        if deep:
            raise InvalidInput(f"the file is not valid: {deep[0].msg}", deep)
        long_names = [n for n, name in enumerate(columns, start=1) if len(name) > MAX_NAME_CHARS]
        if long_names:
            raise _bad(
                f"the name of column {long_names[0]} is longer than {MAX_NAME_CHARS} characters",
                "file.column_name",
            )
        unreadable = [
            Problem(("body", "file", "columns", name), msg, "file.column_name")
            for name, msg in unreadable_names(columns)
        ]
        if unreadable:
            raise InvalidInput(f"the file is not valid: {unreadable[0].msg}", unreadable)
        if fmt in (Format.JSON, Format.JSONL):
            problems = _mixed_json_columns(con, source, columns, types)
            if problems:
                raise InvalidInput(f"the file is not valid: {problems[0].msg}", problems)
        target = os.path.join(folder, f"part-{uuid.uuid4().hex}.parquet")
        return con.execute(
            f"COPY (SELECT {storable_select(columns, types)} FROM {source}) "
            f"TO {literal(target)} (FORMAT parquet, RETURN_STATS)"
        ).fetchall()
    except duckdb.Error as err:
        raise _refusal(err, path, fmt, shown) from err


def write_version(
    table: str,
    produce: Callable[[str], list[tuple[Any, ...]]],
    admit: Callable[[int], None] | None = None,
) -> delta.WrittenVersion:
    """Commit what ``produce(write_folder)`` wrote as the table's next version; ``admit``,
    given the bytes of the files written, may refuse them by raising (a storage quota).

    The base snapshot is opened before anything is written, so a concurrent commit is seen;
    an upload replaces the whole table, so ours then simply lands after it (retry on a fresh
    snapshot, ``retry.until_committed``; the files stay in place). On any failure the write
    folder is removed."""
    with pinning():  # its folder in an S3 mirror stays until the files are uploaded
        base = delta.open_base(table)
        folder = delta.new_write_folder(table)
        try:
            written = produce(folder)
            if admit is not None:  # the files of 0 rows are dropped at the commit
                admit(sum(int(size) for _, count, size, *_ in written if int(count)))
            try:
                version, _ = retry.until_committed(
                    lambda b: delta.commit_copy(table, written, base=b),
                    base,
                    lambda _: delta.open_base(table),
                )
            except delta.CommitFailedError:
                raise Conflict(
                    "other writes to this dataset kept landing first; try again"
                ) from None
            return version
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise


def ingest(
    duck: ServiceDuck,
    table: str,
    path: str,
    fmt: Format,
    shown: str,
    admit: Callable[[int], None] | None = None,
    *,
    ours: bool = False,
) -> delta.WrittenVersion:
    """The file at ``path`` as the next version of ``table``; ``shown`` names it in errors.
    ``admit`` may refuse the version's bytes before it is committed (``write_version``).
    A Parquet file that Delta can hold as it is becomes the version unread
    (``parquet_import.py``): hard-linked when ``ours`` (the caller gives the file away),
    copied otherwise."""
    if os.path.getsize(path) == 0:
        raise _bad("the file is empty", "file.empty")
    if fmt is Format.PARQUET:
        meta = parquet_import.plain(path)
        if meta is not None and _importable_names(meta.schema.names):
            return write_version(
                table, lambda folder: parquet_import.place(path, meta, folder, ours=ours), admit
            )
    if fmt is not Format.PARQUET:
        fault = _encoding_fault(path)
        if fault is not None:
            raise fault
    if fmt is not Format.CSV:
        return _ingest_read(duck, table, path, fmt, shown, admit)
    delimiter = _sniff_delimiter(path)
    _check_csv_header(path, delimiter)
    plain = f"{path}.rows.csv"
    try:
        try:
            csv_rows.rewrite(path, plain, delimiter, MAX_LINE_BYTES)
        except csv_rows.Fault as fault:
            raise _bad(fault.msg, fault.type, f"line {fault.line}") from None
        return _ingest_read(duck, table, plain, fmt, shown, admit)
    finally:
        if os.path.exists(plain):
            os.remove(plain)


def _importable_names(names: list[str]) -> bool:
    """Column names the DuckDB import would accept as they are (also none that Spark or
    Trino cannot read); any other file goes through it, to be refused in its words."""
    return (
        len(names) <= MAX_COLUMNS
        and all(0 < len(n) <= MAX_NAME_CHARS for n in names)
        and not unreadable_names(names)
    )


def _ingest_read(
    duck: ServiceDuck,
    table: str,
    path: str,
    fmt: Format,
    shown: str,
    admit: Callable[[int], None] | None,
) -> delta.WrittenVersion:
    con = duck.connect()
    try:
        return write_version(table, lambda folder: copy_file(con, path, fmt, folder, shown), admit)
    finally:
        con.close()
