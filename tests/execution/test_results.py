"""What a run writes equals, row for row, the same SQL run directly in DuckDB."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
from deltalake import DeltaTable

from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.settings import Settings
from tests.execution.support import (
    dataset_rows,
    read_rows,
    recorded_versions,
    run_pipeline,
    steps,
    table_path,
)
from tests.factories import Api, make_pipeline, make_step

# (step name, query, inputs, output): generated data, a join, an aggregate and windows.
SHOP = [
    (
        "customers",
        "SELECT range AS customer_id, 'c' || range AS name, range % 3 AS region FROM range(40)",
        [],
        "customers",
    ),
    (
        "orders",
        "SELECT range AS order_id, range % 37 AS customer_id, "
        "CAST((range * 7) % 100 AS DECIMAL(10, 2)) + 0.25 AS amount, "
        "DATE '2024-01-01' + CAST(range % 30 AS INTEGER) AS day FROM range(400)",
        [],
        "orders",
    ),
    (
        "joined",
        "SELECT o.order_id, o.customer_id, c.name, c.region, o.amount, o.day "
        "FROM orders o JOIN customers c ON o.customer_id = c.customer_id",
        ["orders", "customers"],
        "joined",
    ),
    (
        "by_region",
        "SELECT region, count(*) AS orders, sum(amount) AS total, "
        "round(avg(amount), 6) AS mean, min(day) AS first_day, max(day) AS last_day "
        "FROM joined GROUP BY region",
        ["joined"],
        "by_region",
    ),
    (
        "ranked",
        "SELECT customer_id, order_id, amount, "
        "row_number() OVER (PARTITION BY customer_id ORDER BY amount DESC, order_id) AS rk, "
        "sum(amount) OVER (PARTITION BY customer_id ORDER BY order_id "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running, "
        "lag(order_id) OVER (PARTITION BY customer_id ORDER BY order_id) AS previous "
        "FROM joined",
        ["joined"],
        "ranked",
    ),
]


def _directly() -> dict[str, list[tuple[Any, ...]]]:
    """The same SQL, each step a table of its output's name, in plain DuckDB."""
    con = duckdb.connect()
    out = {}
    for _, query, _, output in SHOP:
        con.execute(f"CREATE TABLE {output} AS {query}")
        out[output] = sorted(con.execute(f"SELECT * FROM {output}").fetchall(), key=repr)
    con.close()
    return out


def test_multi_step_results_match_duckdb_row_for_row(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    pipeline = make_pipeline(api, [make_step(n, q, i, [o]) for n, q, i, o in SHOP])
    run = run_pipeline(api, runtime, pipeline["id"])
    assert run["status"] == "Succeeded", run
    expected = _directly()
    by_step = steps(run)
    for name, _, inputs, output in SHOP:
        step = by_step[name]
        assert step["status"] == "Succeeded"
        version = step["output_versions"][output]
        got = read_rows(table_path(db, settings, api.org_id, output), version)
        assert got == expected[output], output
        assert step["rows_written"] == len(expected[output])
        # every input was read at the version its writer recorded in this run
        for inp in inputs:
            assert step["input_versions"][inp] == by_step[inp]["output_versions"][inp]
    assert len(expected["ranked"]) == 400 and len(expected["by_region"]) == 3


def test_multi_output_step_writes_each_output_as_its_own_version(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    pipeline = make_pipeline(
        api,
        [
            make_step("gen", "SELECT range AS n FROM range(10)", [], ["numbers"]),
            make_step(
                "split",
                "CREATE TABLE evens AS SELECT n FROM numbers WHERE n % 2 = 0;\n"
                "CREATE TABLE odds AS SELECT n, n * n AS sq FROM numbers WHERE n % 2 = 1;",
                ["numbers"],
                ["evens", "odds"],
            ),
        ],
    )
    for round_ in range(2):
        run = run_pipeline(api, runtime, pipeline["id"], use_cache=False)
        assert run["status"] == "Succeeded", run
        split = steps(run)["split"]
        assert split["output_versions"] == {"evens": round_, "odds": round_}
        assert recorded_versions(db, api.org_id, "evens") == list(range(round_ + 1))
        assert recorded_versions(db, api.org_id, "odds") == list(range(round_ + 1))
        assert dataset_rows(db, settings, api.org_id, "evens", round_) == [
            (n,) for n in range(0, 10, 2)
        ]
        assert dataset_rows(db, settings, api.org_id, "odds", round_) == [
            (n, n * n) for n in range(1, 10, 2)
        ]
        assert split["rows_written"] == 10


def test_types_delta_cannot_hold_are_written_as_storable_types(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    query = (
        "SELECT (SELECT sum(4611686018427387904::BIGINT) FROM range(4)) AS big, "
        "'4ac7a9e9-607c-4c8a-84f3-843f0191e3fd'::UUID AS id, "
        "INTERVAL 3 DAY + INTERVAL 4 HOUR AS wait, "
        "TIME '12:34:56' AS at, "
        "TIMESTAMP_NS '2024-01-02 03:04:05.123456789' AS stamp, "
        "NULL AS nothing"
    )
    pipeline = make_pipeline(api, [make_step("odd", query, [], ["odd_types"])])
    run = run_pipeline(api, runtime, pipeline["id"])
    assert run["status"] == "Succeeded", run
    table = table_path(db, settings, api.org_id, "odd_types")
    version = steps(run)["odd"]["output_versions"]["odd_types"]
    [row] = read_rows(table, version)
    # DuckDB's own cast to microseconds (it rounds the nanoseconds) is the reference
    [(micros,)] = (
        duckdb.connect()
        .execute("SELECT TIMESTAMP_NS '2024-01-02 03:04:05.123456789'::TIMESTAMP")
        .fetchall()
    )
    assert abs(micros - dt.datetime(2024, 1, 2, 3, 4, 5, 123456)) <= dt.timedelta(microseconds=1)
    assert row == (
        decimal.Decimal(2**64),  # past BIGINT and past 2^53: no double on the way
        "4ac7a9e9-607c-4c8a-84f3-843f0191e3fd",
        "3 days 04:00:00",
        "12:34:56",
        micros,
        None,
    )
    # deltalake's own reader opens the version too (a nanosecond or UUID column would not)
    arrow = DeltaTable(table, version=version).to_pyarrow_table(
        filesystem=pafs.SubTreeFileSystem(table, pafs.LocalFileSystem())
    )
    types = {f.name: f.type for f in arrow.schema}
    assert types["big"] == pa.decimal128(38, 0)
    assert types["stamp"] == pa.timestamp("us")
    for name in ("id", "wait", "at", "nothing"):
        assert pa.types.is_string(types[name]) or pa.types.is_large_string(types[name]), name
    assert arrow.column("id").to_pylist() == ["4ac7a9e9-607c-4c8a-84f3-843f0191e3fd"]
