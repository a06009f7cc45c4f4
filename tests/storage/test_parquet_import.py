"""A Parquet file whose columns Delta stores as they are becomes a version unread: its bytes
are the version's file, its footer the version's statistics; any other file still goes
through DuckDB and is cast."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from headrace.errors import InvalidInput
from headrace.storage import ingest, parquet_import
from headrace.storage.duck import ServiceDuck

ROWS = 1_000


def _plain_table() -> pa.Table:
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    return pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "qty": pa.array([None if i % 7 == 0 else i % 13 for i in range(ROWS)], pa.int32()),
            "price": pa.array([i / 4 - 50 for i in range(ROWS)], pa.float64()),
            "name": pa.array([f"item {i}" for i in range(ROWS)], pa.string()),
            "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(ROWS)]),
            "at": pa.array(
                [start + dt.timedelta(seconds=i) for i in range(ROWS)], pa.timestamp("us", "UTC")
            ),
            "amount": pa.array(
                [decimal.Decimal(i) / 100 for i in range(ROWS)], pa.decimal128(12, 2)
            ),
            "ok": pa.array([i % 2 == 0 for i in range(ROWS)]),
        }
    )


def _sha(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def duck() -> ServiceDuck:
    return ServiceDuck()


def _files(table: str) -> list[str]:
    return [uri.removeprefix("file://") for uri in DeltaTable(table).file_uris()]


def test_a_plain_file_is_the_version_byte_for_byte_with_its_footer_statistics(
    tmp_path: Path, duck: ServiceDuck
) -> None:
    source = tmp_path / "orders.parquet"
    pq.write_table(_plain_table(), source, row_group_size=300)  # four row groups
    table = str(tmp_path / "t")
    written = ingest.ingest(duck, table, str(source), ingest.Format.PARQUET, "orders.parquet")
    (file,) = _files(table)
    assert _sha(file) == _sha(source)
    assert written.row_count == ROWS
    assert DeltaTable(table).to_pyarrow_table().sort_by("id").equals(_plain_table())
    (stats,) = pa.table(DeltaTable(table).get_add_actions(flatten=True)).to_pylist()
    data = _plain_table()
    assert stats["num_records"] == ROWS
    for column in ("id", "qty", "price", "amount", "at"):
        assert stats[f"min.{column}"] == pc.min(data[column]).as_py(), column
        assert stats[f"max.{column}"] == pc.max(data[column]).as_py(), column
    assert stats["null_count.qty"] == data["qty"].null_count
    # written text bounds may be shortened by a writer: left out rather than trusted
    assert stats.get("min.name") is None


def test_a_file_with_types_delta_lacks_is_read_and_cast(tmp_path: Path, duck: ServiceDuck) -> None:
    source = tmp_path / "odd.parquet"
    pq.write_table(
        pa.table(
            {
                "n": pa.array([1, 2, 3], pa.uint32()),
                "at": pa.array([1, 2, 3], pa.timestamp("ns")),
            }
        ),
        source,
    )
    assert parquet_import.plain(str(source)) is None
    table = str(tmp_path / "t")
    ingest.ingest(duck, table, str(source), ingest.Format.PARQUET, "odd.parquet")
    (file,) = _files(table)
    assert _sha(file) != _sha(source)
    schema = pa.schema(DeltaTable(table).schema().to_arrow())
    assert schema.field("n").type == pa.int64()
    assert pa.types.is_timestamp(schema.field("at").type)
    assert schema.field("at").type.unit == "us"


def test_a_file_of_ours_is_linked_and_a_users_file_copied(tmp_path: Path) -> None:
    source = tmp_path / "orders.parquet"
    pq.write_table(_plain_table(), source)
    meta = parquet_import.plain(str(source))
    assert meta is not None
    linked = tmp_path / "linked"
    copied = tmp_path / "copied"
    linked.mkdir()
    copied.mkdir()
    ((link, *_),) = parquet_import.place(str(source), meta, str(linked), ours=True)
    ((copy, *_),) = parquet_import.place(str(source), meta, str(copied), ours=False)
    assert os.stat(link).st_ino == os.stat(source).st_ino
    # a user's file edited in place later must not change the version
    assert os.stat(copy).st_ino != os.stat(source).st_ino
    assert _sha(copy) == _sha(source)


def test_the_footer_bounds_cells_or_the_file_is_read(tmp_path: Path) -> None:
    source = tmp_path / "text.parquet"
    values = [f"{i:04d}" + "x" * 1000 for i in range(10)]
    pq.write_table(pa.table({"s": values}), source, compression="zstd")
    meta = parquet_import.plain(str(source))
    assert meta is not None
    assert parquet_import.cells_within(meta, 1_000_000)
    assert not parquet_import.cells_within(meta, 5_000)  # 10 kB of text in the chunk


def test_an_unreadable_footer_goes_to_duckdb_to_be_refused(tmp_path: Path) -> None:
    source = tmp_path / "bad.parquet"
    source.write_bytes(b"PAR1 this is not a parquet file PAR1")
    assert parquet_import.plain(str(source)) is None


def test_a_plain_file_with_a_name_spark_cannot_read_is_refused_like_any_other(
    tmp_path: Path, duck: ServiceDuck
) -> None:
    source = tmp_path / "spaced.parquet"
    pq.write_table(pa.table({"order id": [1, 2]}), source)
    assert parquet_import.plain(str(source)) is not None  # its types alone would be placed
    table = str(tmp_path / "t")
    with pytest.raises(InvalidInput) as refused:
        ingest.ingest(duck, table, str(source), ingest.Format.PARQUET, "spaced.parquet")
    assert "order id" in str(refused.value)
    assert not os.path.exists(os.path.join(table, "_delta_log"))
