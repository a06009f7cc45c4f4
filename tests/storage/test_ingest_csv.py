"""CSV uploads against Python's ``csv`` module as the oracle: a file headrace accepts becomes a
version holding exactly the rows ``csv.reader`` reads (blank lines aside, values typed by
DuckDB's inference); a file it refuses is refused naming the line of the first row whose
field count differs from the header's, or its first line that is not UTF-8.

Files are generated with random quoting (or none, so quotes and delimiters land where they
fall), delimiters and line ends inside quoted fields, byte order marks, ragged rows, CR LF, LF
and CR line ends mixed, blank lines, empty fields, very long fields, and bytes that are not
UTF-8; real Delta tables are written and read back.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from headrace.domain.columns import unreadable_names
from headrace.errors import InvalidInput
from headrace.storage import delta, ingest
from headrace.storage.duck import ServiceDuck, literal_list
from tests.stress import scaled

DELIMITERS = (",", ";", "\t", "|")
LINE_ENDS = ("\n", "\r\n", "\r")
LONG = 200_000  # past the csv module's default 128 KiB field limit


@dataclass
class Expected:
    """What csv.reader reads: the header and rows, or the first faulty line."""

    header: list[str]
    rows: list[list[str]]
    fault_line: int | None


def oracle(data: bytes, delimiter: str) -> Expected:
    """csv.reader's reading; the fault is the first line that is not UTF-8 within or before
    the first row whose field count is not the header's, else that row's first line."""
    text = data.decode("utf-8-sig", errors="replace")
    bad_line = None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start].replace(b"\r\n", b"\n")
        bad_line = before.count(b"\n") + before.count(b"\r") + 1
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] = []
    rows: list[list[str]] = []
    start = 1
    for row in reader:
        if bad_line is not None and bad_line <= reader.line_num:
            return Expected(header, rows, bad_line)
        if row:
            if not header:
                header = row
            elif len(row) != len(header):
                return Expected(header, rows, start)
            else:
                rows.append(row)
        start = reader.line_num + 1
    return Expected(header, rows, bad_line)


NAMES = st.text("abcdefghijklmnopqrstuvwxyz_ 0123456789é", min_size=1, max_size=8).filter(
    lambda s: s.strip() != ""
)
VALUES = st.one_of(
    st.text(st.sampled_from('ab1 ,;\t|"\n\r#é\U0001f600-.'), max_size=12),
    st.sampled_from(["", "1", "-7", "0.5", "1e3", "true", "NULL", "2024-01-02", " 3 ", "#"]),
    st.integers(-(10**12), 10**12).map(str),
    st.just("x" * LONG),
)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, str]:
    """The bytes of a CSV file and the delimiter it was written with."""
    width = draw(st.integers(1, 4))
    delimiter = "," if width == 1 else draw(st.sampled_from(DELIMITERS))
    header = draw(st.lists(NAMES, min_size=width, max_size=width, unique_by=str.strip))
    rows = draw(
        st.lists(
            st.lists(VALUES, min_size=width, max_size=width)
            | st.lists(VALUES, min_size=0, max_size=width + 2),  # maybe ragged
            max_size=6,
        )
    )

    def field(value: str) -> str:
        if draw(st.booleans()):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [delimiter.join(field(v) for v in header)]
    lines += [delimiter.join(field(v) for v in row) for row in rows]
    out = "\ufeff" if draw(st.booleans()) else ""
    for n, line in enumerate(lines):
        out += line
        if n < len(lines) - 1 or draw(st.booleans()):
            out += draw(st.sampled_from(LINE_ENDS))
        if n and draw(st.integers(0, 9)) == 0:
            out += draw(st.sampled_from(LINE_ENDS))  # a blank line
    data = out.encode()
    if rows and draw(st.integers(0, 19)) == 0:  # a byte that is not UTF-8, somewhere
        at = draw(st.integers(len(lines[0]) + 1, len(data)))
        data = data[:at] + b"\xff" + data[at:]
    return data, delimiter


def stored(written: delta.WrittenVersion) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    """The version's columns, their DuckDB types and rows, in file order."""
    con = duckdb.connect()
    files = written.snapshot.files
    if not files:
        return [f["name"] for f in written.schema], [], []
    relation = con.sql(f"SELECT * FROM read_parquet({literal_list(files)})")
    return relation.columns, [str(t) for t in relation.types], relation.fetchall()


def as_typed(texts: list[str], type_: str) -> list[Any]:
    """The values csv.reader read as DuckDB casts them to the column's inferred type."""
    if not texts:
        return []
    con = duckdb.connect()
    return [
        row[0]
        for row in con.execute(
            f"SELECT TRY_CAST(nullif(v, '') AS {type_}) FROM unnest($1::VARCHAR[]) "
            "WITH ORDINALITY AS t(v, n) ORDER BY n",
            [texts],
        ).fetchall()
    ]


def upload(folder: str, data: bytes) -> delta.WrittenVersion:
    """``data`` as a CSV upload to a new table in ``folder``, with a service DuckDB of its own."""
    path = os.path.join(folder, "upload.csv")
    with open(path, "wb") as f:
        f.write(data)
    duck = ServiceDuck()
    try:
        return ingest.ingest(duck, os.path.join(folder, "t"), path, ingest.Format.CSV, "f.csv")
    finally:
        duck.close()


def check(data: bytes, delimiter: str) -> None:
    expected = oracle(data, delimiter)
    with tempfile.TemporaryDirectory() as folder:
        try:
            written = upload(folder, data)
        except InvalidInput as err:
            unreadable = unreadable_names([name.strip() for name in expected.header])
            if expected.fault_line is None and unreadable:
                # names Spark and Trino cannot read are refused by name, once the rows are read
                wanted = [("body", "file", "columns", name) for name, _ in unreadable]
                assert [p.loc for p in err.problems] == wanted, (err.problems, expected)
                return
            assert expected.fault_line is not None, (err, expected)
            where = f"line {expected.fault_line}"
            assert err.problems[0].loc == ("body", "file", where), (err.problems, expected)
            assert err.problems[0].msg.startswith(where + " "), err.problems
            return
        assert expected.fault_line is None, (expected, written)
        assert not unreadable_names([name.strip() for name in expected.header]), written
        columns, types, rows = stored(written)
        assert columns == [name.strip() for name in expected.header]
        assert written.row_count == len(expected.rows) == len(rows)
        for n, type_ in enumerate(types):
            got = [row[n] for row in rows]
            texts = [row[n] for row in expected.rows]
            if type_ == "VARCHAR":
                assert got == [t or None for t in texts], (columns[n], data)
            else:
                assert got == as_typed(texts, type_), (columns[n], type_, data)


@settings(
    max_examples=scaled(150, 5000),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(csv_files())
@example((b"a,b,c\n1,2,3\n4,5,6\n6,7,8,9\n", ","))  # a longer last row was the header
@example((b"a,b\r\n1,2\n3,4\r\n5,6\n", ","))  # CR LF and LF mixed
@example((b"a,b\n#x,1\n2,3\n", ","))  # a row starting with '#' was a comment
@example((b"a;b\r1;2\r3;4", ";"))  # CR line ends
@example((b"0\r;\r1\r", ","))  # the delimiter was sniffed past the header's CR
@example((b'0,1\n"\r",\n', ","))  # a CR alone in a field, unquoted in the plain copy
def test_accepted_files_hold_exactly_the_rows_csv_reader_reads(case: tuple[bytes, str]) -> None:
    check(*case)


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"a,b\n1,2\n\n\r\n3,4,5\n", 5),  # blank lines count
        (b'a,b\n"x\ny\nz",2\n3\n', 5),  # the row starts after a 3-line quoted field
        (b'a,b\n"x\ny,2\n', 2),  # an unclosed quote runs to the end: a 1-field row
        (b"a,b\r1,2\r\n3,\xff\n", 3),
    ],
)
def test_a_refused_file_names_the_line_the_bad_row_starts_on(data: bytes, line: int) -> None:
    assert oracle(data, ",").fault_line == line
    check(data, ",")


def test_a_row_longer_than_the_limit_is_refused_without_reading_it_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ingest, "MAX_LINE_BYTES", 1000)
    many_lines = b'a,b\n1,2\n"' + b"x\n" * 600 + b'",3\n'
    with pytest.raises(InvalidInput) as caught, tempfile.TemporaryDirectory() as folder:
        upload(folder, many_lines)
    problem = caught.value.problems[0]
    assert problem.type == "file.line_too_long" and problem.loc == ("body", "file", "line 3")
