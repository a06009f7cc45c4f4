"""A CSV upload read with Python's ``csv`` module and rewritten in one plain form for DuckDB.

DuckDB's CSV reader guesses: it sniffs comment lines (a row starting with ``#`` vanishes), rows
to skip before the "real" header (a last row longer than the header becomes the header, and
every row before it is dropped) and refuses files that every common reader accepts (CR LF and
LF line ends mixed). So the rows of a CSV upload are the rows Python's ``csv`` module reads:
the file is read with it once, every row is checked against the header, and written back with
CR LF line ends, minimal quoting and no byte order mark; DuckDB then reads that copy with nothing
left to guess but the column types. Blank lines are skipped, as every common reader does.

Faults are reported with the physical line they start on (CR LF, LF and CR each end a line).
Memory stays bounded by the longest row allowed, never by the file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

_BOM = b"\xef\xbb\xbf"
_CR = ord("\r")


@dataclass
class Fault(Exception):
    """What is wrong with the file, and on which line it starts."""

    line: int
    msg: str
    type: str

    def __str__(self) -> str:
        return self.msg


class _Lines:
    """The file's physical lines as text, for ``csv.reader``; counts them, and the bytes of
    the row being read, so an over-long row is refused before it is held whole. The reader
    sets ``row_end`` to the line each row ends on (its ``line_num``) as it takes the row."""

    def __init__(self, f: BinaryIO, max_row_bytes: int) -> None:
        self._f = f
        self._max = max_row_bytes
        self.row_end = 0  # the last line of the last complete row

    def _pieces(self) -> Iterator[bytes]:
        """Physical lines as bytes. readline splits only at LF, so a chunk holding a CR that
        is not part of its final CR LF is split again; a chunk cut at the read limit keeps its
        unfinished last line for the next read (unless that line alone is over the limit)."""
        readline = self._f.readline
        limit = self._max + 1
        pending = b""
        first = True
        while read := readline(limit):
            full = len(read) == limit
            if first:
                read, first = read.removeprefix(_BOM), False
            raw, pending = pending + read, b""
            cr = raw.find(b"\r")
            if cr == -1 or (cr == len(raw) - 2 and raw.endswith(b"\n")):
                yield raw
                continue
            pieces = raw.splitlines(keepends=True)
            if full and not raw.endswith(b"\n") and len(pieces[-1]) <= self._max:
                pending = pieces.pop()
            yield from pieces
        if pending:
            yield pending

    def __iter__(self) -> Iterator[str]:
        most = self._max
        start = 1  # the first line of the row being read
        row_bytes = 0
        for number, piece in enumerate(self._pieces(), start=1):
            if self.row_end >= start:  # the reader took a row since: this line starts one
                start, row_bytes = self.row_end + 1, 0
            row_bytes += len(piece)
            if row_bytes > most:
                where = f"line {start}"
                if number > start:
                    where = f"the row from line {start} to line {number}"
                raise Fault(
                    start,
                    f"{where} is longer than {most} bytes, the most one row may take",
                    "file.line_too_long",
                )
            try:
                yield piece.decode("utf-8")
            except UnicodeDecodeError:
                raise Fault(number, f"line {number} is not UTF-8 text", "csv.encoding") from None


def reader(lines: Iterable[str], delimiter: str, max_field_bytes: int) -> Any:
    """Python's csv reader over ``lines``, reading fields up to ``max_field_bytes``. The csv
    module refuses fields over 128 KiB unless told otherwise, and that limit is the whole
    process's: it is raised here, where a reader needs it, never at import."""
    if csv.field_size_limit() < max_field_bytes:
        csv.field_size_limit(max_field_bytes)
    return csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True)


def rewrite(source: str, target: str, delimiter: str, max_row_bytes: int) -> int:
    """Write the rows of the CSV file ``source`` (fields split at ``delimiter``) to ``target``
    in the plain form; the number of data rows. Raises Fault for a row whose field count is
    not the header's, a line that is not UTF-8, or a row over ``max_row_bytes``."""
    with open(source, "rb") as raw, open(target, "w", encoding="utf-8", newline="") as out:
        lines = _Lines(raw, max_row_bytes)
        rows_read = reader(lines, delimiter, max_row_bytes)
        # CR LF ends: QUOTE_MINIMAL quotes a field holding any character of the line end, and
        # a CR alone in a field must be quoted as much as an LF.
        write = csv.writer(out, delimiter=",", quotechar='"', lineterminator="\r\n").writerow
        width = -1  # fields of the header, once read
        rows = 0
        try:
            for row in rows_read:
                if len(row) != width:
                    if not row:  # a blank line
                        lines.row_end = rows_read.line_num
                        continue
                    if width >= 0:
                        start = lines.row_end + 1
                        raise Fault(
                            start,
                            f"line {start} has {len(row)} field(s) but the header has {width}",
                            "csv.field_count",
                        )
                    width = len(row)
                else:
                    rows += 1
                write(row)
                lines.row_end = rows_read.line_num
        except csv.Error as err:
            start = lines.row_end + 1
            raise Fault(start, f"line {start}: {err}", "csv.syntax") from None
        if width < 0:
            raise Fault(1, "the first line must be a header naming the columns", "csv.header")
        return rows
