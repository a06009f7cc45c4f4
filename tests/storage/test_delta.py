"""Delta versions written by DuckDB COPY and committed by commit_copy: races, empty
results, type casts, and reading pinned versions back."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from headrace.storage import delta, reading
from headrace.storage.duck import ServiceDuck
from headrace.storage.types import storable_select


def copy_into(table: str, query: str) -> list[tuple[Any, ...]]:
    """COPY ``query`` (made storable) into a fresh write folder of ``table``."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    relation = con.sql(query)
    select = storable_select(relation.columns, [str(t) for t in relation.types])
    folder = delta.new_write_folder(table)
    return con.execute(
        f"COPY (SELECT {select} FROM ({query})) TO '{folder}/part-0.parquet' "
        "(FORMAT parquet, RETURN_STATS)"
    ).fetchall()


def write(table: str, query: str) -> delta.WrittenVersion:
    base = delta.open_base(table)
    return delta.commit_copy(table, copy_into(table, query), base=base)


def read(table: str, version: int, limit: int = 10_000) -> list[dict[str, Any]]:
    """The version's rows, read as the API reads them (a service DuckDB of its own)."""
    duck = ServiceDuck()
    try:
        return reading.preview(duck, table, version, limit, 0)
    finally:
        duck.close()


@pytest.fixture
def table(tmp_path: Path) -> str:
    path = tmp_path / "t"
    path.mkdir()
    return str(path)


def test_versions_stay_readable(table: str) -> None:
    assert write(table, "SELECT range AS n FROM range(3)").version == 0
    assert write(table, "SELECT 'x' AS s").version == 1
    assert delta.current_version(table) == 1
    assert read(table, 0) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert read(table, 1) == [{"s": "x"}]


def test_empty_result_is_an_empty_version_with_its_schema(table: str) -> None:
    write(table, "SELECT 1 AS a")
    written = write(table, "SELECT range AS n, 'x' AS s FROM range(0)")
    assert (written.version, written.row_count, written.bytes) == (1, 0, 0)
    assert [c["name"] for c in written.schema] == ["n", "s"]
    snap = delta.snapshot(table, 1)
    assert snap.files == []
    assert read(table, 1) == []
    assert read(table, 0) == [{"a": 1}]


def test_types_delta_cannot_store_are_cast(table: str) -> None:
    written = write(
        table,
        "SELECT '1152921504606846977'::HUGEINT AS big, TIME '01:02:03' AS t, "
        "INTERVAL 3 HOUR AS i, '00000000-0000-4000-8000-000000000001'::UUID AS u, "
        "TIMESTAMP_NS '2024-01-01 00:00:00.000001999' AS ns, NULL AS nothing, "
        "4000000000::UINTEGER AS ui, TIMESTAMPTZ '2024-01-01 12:00:00+02' AS tz, "
        "'{\"a\": 1}'::JSON AS j, {'x': 1, 'y': [1, 2]} AS st",
    )
    types = {c["name"]: c["type"] for c in written.schema}
    assert types == {
        "big": "decimal128(38, 0)",
        "t": "string",
        "i": "string",
        "u": "string",
        "ns": "timestamp[us]",
        "nothing": "string",
        "ui": "int64",
        "tz": "timestamp[us, tz=UTC]",
        "j": "string",
        "st": "struct<x: int32, y: list<element: int32>>",
    }
    (row,) = read(table, 0)
    assert row["big"] == "1152921504606846977"  # 2**60 + 1: every digit kept, no double
    assert row["t"] == "01:02:03"
    assert row["u"] == "00000000-0000-4000-8000-000000000001"
    assert row["ns"] == "2024-01-01T00:00:00.000002"
    assert row["nothing"] is None
    assert row["ui"] == 4_000_000_000
    assert row["tz"] == "2024-01-01T10:00:00+00:00"
    assert row["st"] == {"x": 1, "y": [1, 2]}


def test_two_writers_racing_never_corrupt(table: str) -> None:
    write(table, "SELECT 0 AS writer, range AS n FROM range(10)")
    barrier = threading.Barrier(2)
    outcomes: dict[int, Any] = {}

    def writer(ident: int) -> None:
        base = delta.open_base(table)  # the snapshot is opened before the COPY
        files = copy_into(table, f"SELECT {ident} AS writer, range AS n FROM range(5000)")
        barrier.wait()
        try:
            outcomes[ident] = delta.commit_copy(table, files, base=base)
        except delta.CommitFailedError as err:
            outcomes[ident] = err

    threads = [threading.Thread(target=writer, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    committed = [o for o in outcomes.values() if isinstance(o, delta.WrittenVersion)]
    failed = [o for o in outcomes.values() if isinstance(o, delta.CommitFailedError)]
    assert len(committed) + len(failed) == 2
    assert len(committed) >= 1
    # a failed writer left nothing visible; the committed versions are consecutive
    assert sorted(w.version for w in committed) == list(range(1, 1 + len(committed)))
    assert delta.current_version(table) == len(committed)
    for version in range(1, len(committed) + 1):
        rows = read(table, version)
        writers = {r["writer"] for r in rows}
        assert len(writers) == 1 and len(rows) == 5000  # exactly one writer's complete data
    assert read(table, 0) == [{"writer": 0, "n": n} for n in range(10)]


def test_preview_reads_columns_added_later_by_name(table: str) -> None:
    write(table, "SELECT 1 AS id")
    base = delta.open_table(table)
    assert base is not None
    source = pa.table({"id": pa.array([2], pa.int32()), "extra": pa.array(["e"])})
    base.merge(
        source, predicate="t.id = s.id", source_alias="s", target_alias="t", merge_schema=True
    ).when_not_matched_insert_all().execute()
    rows = sorted(read(table, 1), key=lambda r: r["id"])
    assert rows == [{"id": 1, "extra": None}, {"id": 2, "extra": "e"}]


_READ_WITHOUT_PYARROW = """
import sys, threading
from headrace.storage import delta
snap = delta.snapshot(sys.argv[1], 1)
print(len(snap.files), "pyarrow" in sys.modules, "deltalake" in sys.modules)
print(snap.schema.names, "pyarrow" in sys.modules)
delta.import_for_commit()
for thread in threading.enumerate():
    if thread.name == "headrace-import-delta":
        thread.join()
print("pyarrow.parquet" in sys.modules, "deltalake.transaction" in sys.modules)
"""


def test_a_version_is_read_without_pyarrow_until_its_schema_is_asked_for(table: str) -> None:
    # A step's inputs need only their files: a process that commits nothing (a `headrace
    # run` whose steps are all reused) never imports pyarrow or deltalake (~0.2 s). One
    # about to commit imports both in a thread.
    write(table, "SELECT range AS n FROM range(3)")
    write(table, "SELECT 'x' AS s, 1 AS t")
    done = subprocess.run(
        [sys.executable, "-c", _READ_WITHOUT_PYARROW, table],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.splitlines() == [
        "1 False False",
        "['s', 't'] True",
        "True True",
    ], done.stderr
