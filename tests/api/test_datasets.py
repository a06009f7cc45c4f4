"""/datasets/ on both metadata stores: uploads, upserts, reads, downloads, deletion."""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from headrace.api.app import create_app
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.settings import Settings
from tests.factories import Api, make_org, make_pipeline, make_step

CSV = "id,name,price,day\n1,apple,1.25,2024-01-01\n2,pear,0.5,2024-01-02\n3,fig,,2024-01-03\n"
CSV_ROWS = [
    {"id": 1, "name": "apple", "price": 1.25, "day": "2024-01-01"},
    {"id": 2, "name": "pear", "price": 0.5, "day": "2024-01-02"},
    {"id": 3, "name": "fig", "price": None, "day": "2024-01-03"},
]


def upload(
    api: Api, name: str, content: bytes | str, filename: str = "data.csv", **kw: Any
) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return api.post("/datasets/", data={"name": name}, files={"file": (filename, data)}, **kw)


def new_dataset(api: Api, content: str = CSV, filename: str = "data.csv") -> dict[str, Any]:
    r = upload(api, f"d-{uuid.uuid4().hex[:8]}", content, filename)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def rows_of(api: Api, dataset_id: str, **params: Any) -> list[dict[str, Any]]:
    r = api.get(f"/datasets/{dataset_id}/rows/", params=params)
    assert r.status_code == 200, r.text
    result: list[dict[str, Any]] = r.json()
    return result


def test_csv_upload_row_for_row(api: Api) -> None:
    d = new_dataset(api)
    assert d["current_version"] == 0
    assert d["row_count"] == 3
    assert [c["name"] for c in d["schema"]] == ["id", "name", "price", "day"]
    assert rows_of(api, d["id"]) == CSV_ROWS
    detail = api.get(f"/datasets/{d['id']}/").json()
    (version,) = detail["versions"]
    assert version["operation"] == "upload"
    assert version["row_count"] == 3
    assert version["written_by_key_id"] is not None
    assert version["run_id"] is None


def test_jsonl_and_json_array_uploads(api: Api) -> None:
    source = [
        {"k": 1, "tags": ["a", "b"], "nested": {"x": 1.5}, "ok": True},
        {"k": 2, "tags": [], "nested": {"x": None}, "ok": False},
    ]
    jsonl = "\n".join(json.dumps(r) for r in source) + "\n"
    for filename, content in (
        ("r.jsonl", jsonl),
        ("r.ndjson", jsonl),
        ("r.json", json.dumps(source)),
    ):
        d = new_dataset(api, content, filename)
        assert rows_of(api, d["id"]) == source, filename


def test_parquet_upload_with_types_delta_cannot_store(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    duckdb.sql(
        "COPY (SELECT TIME '10:11:12' AS t, INTERVAL 2 DAY AS span, "
        "'6f1c2a4e-1111-4222-8333-444455556666'::UUID AS u, "
        "TIMESTAMP_NS '2024-01-01 00:00:00.123456789' AS ns, 1.50::DECIMAL(10,2) AS amount "
        f"FROM range(2) r(i)) TO '{path}' (FORMAT parquet)"
    )
    r = upload(api, f"d-{uuid.uuid4().hex[:8]}", path.read_bytes(), "t.parquet")
    assert r.status_code == 201, r.text
    d = r.json()
    types = {c["name"]: c["type"] for c in d["schema"]}
    assert types["t"] == types["span"] == types["u"] == "string"
    assert types["ns"] == "timestamp[us]"
    assert types["amount"] == "decimal128(10, 2)"
    rows = rows_of(api, d["id"])
    assert rows[0]["t"] == "10:11:12"
    assert rows[0]["u"] == "6f1c2a4e-1111-4222-8333-444455556666"
    assert rows[0]["amount"] == "1.50"
    assert rows[0]["ns"].startswith("2024-01-01T00:00:00.123")


def test_format_from_content_type(api: Api) -> None:
    r = api.post(
        "/datasets/",
        data={"name": f"d-{uuid.uuid4().hex[:8]}"},
        files={"file": ("blob", b'{"a": 1}\n', "application/x-ndjson")},
    )
    assert r.status_code == 201, r.text
    assert rows_of(api, r.json()["id"]) == [{"a": 1}]
    r = upload(api, "x", "a\n1\n", "data.txt")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "file"]


def test_reupload_makes_a_new_version_and_keeps_the_old(api: Api) -> None:
    d = new_dataset(api)
    r = upload(api, d["name"], "id,name\n9,kiwi\n")
    assert r.status_code == 201, r.text
    assert r.json()["id"] == d["id"]
    assert r.json()["current_version"] == 1
    assert rows_of(api, d["id"]) == [{"id": 9, "name": "kiwi"}]
    assert rows_of(api, d["id"], version=0) == CSV_ROWS
    versions = api.get(f"/datasets/{d['id']}/").json()["versions"]
    assert [v["version"] for v in versions] == [1, 0]
    assert api.get(f"/datasets/{d['id']}/rows/", params={"version": 7}).status_code == 404


def test_header_only_csv_is_an_empty_version(api: Api) -> None:
    d = new_dataset(api, "a,b\n")
    assert d["row_count"] == 0
    assert d["schema"] == [{"name": "a", "type": "string"}, {"name": "b", "type": "string"}]
    assert rows_of(api, d["id"]) == []
    r = api.get(f"/datasets/{d['id']}/download/", params={"format": "csv"})
    assert r.status_code == 200
    assert r.text.strip() == "a,b"


BAD_FILES: list[tuple[bytes, str, str | None]] = [
    (b"", "e.csv", None),
    (os.urandom(3000), "g.csv", "line"),
    (os.urandom(3000), "g.parquet", None),
    (b"a,b\n1,2\n3,4,5\n6,7\n", "inconsistent.csv", "line 3"),
    (b'{"a": 1}\n{"a": }\n{"a": 3}\n', "broken.jsonl", "line 2"),
    (b"[1, 2, 3]", "scalars.json", None),
    (b'{"a": 1}\n{"a": "x"}\n', "mixed.jsonl", "a"),
]


def test_bad_files_are_422_and_leave_the_dataset_untouched(api: Api) -> None:
    d = new_dataset(api)
    for content, filename, where in BAD_FILES:
        r = upload(api, d["name"], content, filename)
        assert r.status_code == 422, (filename, r.text)
        body = r.json()
        assert body["code"] == "invalid_input"
        loc = body["errors"][0]["loc"]
        assert loc[:2] == ["body", "file"], filename
        if where is not None:
            assert any(str(x).startswith(where) for x in loc[2:]), (filename, body)
    after = api.get(f"/datasets/{d['id']}/").json()
    assert after["current_version"] == 0
    assert len(after["versions"]) == 1
    assert rows_of(api, d["id"]) == CSV_ROWS


def test_bad_first_upload_creates_no_dataset(api: Api) -> None:
    name = f"d-{uuid.uuid4().hex[:8]}"
    assert upload(api, name, b"a,b\n1\n").status_code == 422
    assert [d["name"] for d in api.get("/datasets/").json()] == []


def test_over_limit_upload_is_413_and_writes_nothing(
    settings: Settings, db: Database, tmp_path: Any
) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 1000})
    with (
        Runtime(small, db) as rt,
        TestClient(create_app(small, rt), raise_server_exceptions=False) as client,
    ):
        api = make_org(client, db)
        r = upload(api, "big", "a\n" + "123456789\n" * 200)
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "payload_too_large"
        assert api.get("/datasets/").json() == []
        scratch = small.data_dir / "tmp"
        assert not scratch.exists() or os.listdir(scratch) == []
        assert upload(api, "small", "a\n1\n").status_code == 201


def test_bad_names_and_missing_fields(api: Api) -> None:
    r = upload(api, "no spaces/here", CSV)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "name"]
    r = api.post("/datasets/", files={"file": ("a.csv", b"a\n1\n")})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "name"]
    r = api.post("/datasets/", json={"name": "x"})
    assert r.status_code == 422


def test_list_pages_with_link(api: Api) -> None:
    made = [new_dataset(api)["id"] for _ in range(3)]
    r = api.get("/datasets/", params={"limit": 2})
    first = r.json()
    assert len(first) == 2
    next_url = r.headers["link"].split(";")[0].strip("<>")
    second = api.get(next_url).json()
    assert {d["id"] for d in first + second} == set(made)
    assert first[0]["row_count"] == 3
    assert first[0]["schema"][0] == {"name": "id", "type": "int64"}


def test_preview_paging(api: Api) -> None:
    d = new_dataset(api, "n\n" + "".join(f"{i}\n" for i in range(25)))
    assert [r["n"] for r in rows_of(api, d["id"], limit=10, offset=20)] == list(range(20, 25))
    assert rows_of(api, d["id"], limit=3) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert rows_of(api, d["id"], offset=100) == []


def test_numbers_past_the_stores_range_are_422(api: Api) -> None:
    """Found by the fuzzer: these were 500s from DuckDB (offset) and the metadata store
    (version: PostgreSQL keeps it as a 32-bit integer, SQLite as a 64-bit one)."""
    d = new_dataset(api)
    for kind, param, value in (
        ("rows", "offset", 2**63),
        ("rows", "version", 2**31),
        ("download", "version", 2**31),
        ("rows", "version", 2**63),
        ("download", "version", 10**23),
    ):
        r = api.get(f"/datasets/{d['id']}/{kind}/", params={param: value})
        assert r.status_code == 422, (kind, param, value, r.text)
        assert r.json()["errors"][0]["loc"] == ["query", param]
    assert rows_of(api, d["id"], offset=2**63 - 1) == []


def test_download_parquet_and_csv_round_trip(api: Api) -> None:
    d = new_dataset(api)
    r = api.get(f"/datasets/{d['id']}/download/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(r.content))
    got = table.to_pylist()
    assert [(x["id"], x["name"], x["price"]) for x in got] == [
        (x["id"], x["name"], x["price"]) for x in CSV_ROWS
    ]
    assert [str(x["day"]) for x in got] == [x["day"] for x in CSV_ROWS]
    r = api.get(f"/datasets/{d['id']}/download", params={"format": "csv", "version": 0})
    assert r.status_code == 200
    assert list(csv.reader(io.StringIO(r.text))) == list(csv.reader(io.StringIO(CSV)))
    assert "attachment" in r.headers["content-disposition"]
    assert api.get(f"/datasets/{d['id']}/download/", params={"format": "xls"}).status_code == 422


def test_upsert_creates_then_merges(api: Api) -> None:
    name = f"u-{uuid.uuid4().hex[:8]}"
    body = {
        "dataset_name": name,
        "row_unique_identifier": "id",
        "data": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}],
    }
    r = api.put("/datasets/upsert/", json=body)
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["current_version"], d["row_count"]) == (0, 2)
    body["data"] = [{"id": 2, "v": "B"}, {"id": 3, "v": "c"}]
    r = api.put("/datasets/upsert", json=body)
    assert r.status_code == 200, r.text
    assert (r.json()["current_version"], r.json()["row_count"]) == (1, 3)
    got = sorted(rows_of(api, d["id"]), key=lambda x: x["id"])
    assert got == [{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}]
    assert sorted(rows_of(api, d["id"], version=0), key=lambda x: x["id"]) == body_v0()
    versions = api.get(f"/datasets/{d['id']}/").json()["versions"]
    assert [v["operation"] for v in versions] == ["upsert", "upsert"]


def body_v0() -> list[dict[str, Any]]:
    return [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]


def test_upsert_into_an_uploaded_dataset_keeps_its_types(api: Api) -> None:
    d = new_dataset(api)
    r = api.put(
        "/datasets/upsert/",
        json={
            "dataset_name": d["name"],
            "row_unique_identifier": "id",
            "data": [
                {"id": 3, "name": "fig", "price": 2.0, "day": "2024-02-01"},
                {"id": 4, "name": "plum", "price": 3, "day": "2024-02-02"},
            ],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["row_count"] == 4
    assert r.json()["schema"] == d["schema"]
    got = {x["id"]: x for x in rows_of(api, d["id"])}
    assert got[3] == {"id": 3, "name": "fig", "price": 2.0, "day": "2024-02-01"}
    assert got[4]["price"] == 3.0
    assert got[1] == CSV_ROWS[0]


def test_upsert_check_schema_lists_every_bad_field(api: Api) -> None:
    d = new_dataset(api)
    body = {
        "dataset_name": d["name"],
        "row_unique_identifier": "id",
        "data": [
            {"id": 5, "name": 7},
            {"id": 6, "colour": "red"},
            {"name": "no key"},
            {"id": 7, "day": "not a date", "price": "1.5"},
        ],
    }
    r = api.put("/datasets/upsert/", json=body)
    assert r.status_code == 422, r.text
    locs = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert locs == {
        ("body", "data", 0, "name"),
        ("body", "data", 1, "colour"),
        ("body", "data", 2, "id"),
        ("body", "data", 3, "day"),
        ("body", "data", 3, "price"),
    }
    assert api.get(f"/datasets/{d['id']}/").json()["current_version"] == 0


def test_upsert_without_check_schema_adds_columns(api: Api) -> None:
    d = new_dataset(api)
    r = api.put(
        "/datasets/upsert/",
        params={"check_schema": "false"},
        json={
            "dataset_name": d["name"],
            "row_unique_identifier": "id",
            "data": [{"id": 1, "colour": "red"}],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["schema"][-1] == {"name": "colour", "type": "string"}
    got = {x["id"]: x for x in rows_of(api, d["id"])}
    assert got[1] == {"id": 1, "name": None, "price": None, "day": None, "colour": "red"}
    assert got[2]["colour"] is None


def test_upsert_key_problems(api: Api) -> None:
    body: dict[str, Any] = {
        "dataset_name": f"u-{uuid.uuid4().hex[:8]}",
        "row_unique_identifier": "id",
        "data": [{"id": 1}, {"x": 2}, {"id": 1}],
    }
    r = api.put("/datasets/upsert/", json=body)
    assert r.status_code == 422
    types = [e["type"] for e in r.json()["errors"]]
    assert types == ["key.missing", "key.duplicate"]
    body["data"] = []
    assert api.put("/datasets/upsert/", json=body).status_code == 422
    body["data"] = [{"id": 1}]
    body["data_schema"] = {"id": "NOT A TYPE;"}
    r = api.put("/datasets/upsert/", json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "data_schema", "id"]
    assert api.get("/datasets/").json() == []


def test_upsert_data_schema_types_a_new_dataset(api: Api) -> None:
    r = api.put(
        "/datasets/upsert/",
        json={
            "dataset_name": f"u-{uuid.uuid4().hex[:8]}",
            "row_unique_identifier": "id",
            "data": [{"id": 1, "amount": "12.30", "at": "2024-05-01T10:00:00"}],
            "data_schema": {"id": "INTEGER", "amount": "DECIMAL(10,2)", "at": "TIMESTAMP"},
        },
    )
    assert r.status_code == 200, r.text
    types = {c["name"]: c["type"] for c in r.json()["schema"]}
    assert types == {"id": "int32", "amount": "decimal128(10, 2)", "at": "timestamp[us]"}
    assert rows_of(api, r.json()["id"]) == [
        {"id": 1, "amount": "12.30", "at": "2024-05-01T10:00:00"}
    ]


def test_delete_refused_while_a_pipeline_reads_it(api: Api) -> None:
    d = new_dataset(api)
    make_pipeline(api, [make_step("s", f'SELECT * FROM "{d["name"]}"', [d["name"]], ["out"])])
    r = api.delete(f"/datasets/{d['id']}/")
    assert r.status_code == 409
    assert r.json()["code"] == "conflict"
    other = new_dataset(api)
    assert api.delete(f"/datasets/{other['id']}/").status_code == 204
    assert api.get(f"/datasets/{other['id']}/").status_code == 404
    assert api.delete(f"/datasets/{other['id']}").status_code == 404


def test_another_organisation_sees_404(api: Api, db: Database) -> None:
    d = new_dataset(api)
    stranger = make_org(api.client, db)
    for path in ("", "rows/", "download/"):
        r = stranger.get(f"/datasets/{d['id']}/{path}")
        assert r.status_code == 404, path
    assert stranger.delete(f"/datasets/{d['id']}/").status_code == 404
    assert stranger.get("/datasets/").json() == []
    # the same name in another organisation is another dataset
    r = upload(stranger, d["name"], "z\n1\n")
    assert r.status_code == 201
    assert r.json()["id"] != d["id"]
    assert rows_of(api, d["id"]) == CSV_ROWS


def test_roles(api: Api) -> None:
    d = new_dataset(api)
    viewer = api.with_role("viewer")
    assert upload(viewer, "v", CSV).status_code == 403
    body = {"dataset_name": "v", "row_unique_identifier": "id", "data": [{"id": 1}]}
    assert viewer.put("/datasets/upsert/", json=body).status_code == 403
    assert viewer.delete(f"/datasets/{d['id']}/").status_code == 403
    assert viewer.get(f"/datasets/{d['id']}/rows/").status_code == 200
    builder = api.with_role("builder")
    assert upload(builder, d["name"], CSV).status_code == 201
    assert api.client.get("/datasets/").status_code == 401


def test_table_uri_opens_the_datasets_delta_table_directly(api: Api) -> None:
    """Polars, DuckDB or Spark can read a dataset without the API, from its table URI."""
    from deltalake import DeltaTable

    d = new_dataset(api)
    r = api.put(
        "/datasets/upsert/",
        json={"dataset_name": d["name"], "row_unique_identifier": "id", "data": [{"id": 4}]},
    )
    assert r.status_code == 200, r.text
    merged = r.json()
    detail = api.get(f"/datasets/{d['id']}/").json()
    listed = [x for x in api.get("/datasets/").json() if x["id"] == d["id"]]
    assert d["table_uri"] == merged["table_uri"] == detail["table_uri"] == listed[0]["table_uri"]
    assert d["table_uri"].startswith("file:///")
    table = DeltaTable(d["table_uri"])
    assert table.version() == merged["current_version"]
    assert table.to_pyarrow_table().num_rows == 4
    first = DeltaTable(d["table_uri"], version=d["current_version"]).to_pyarrow_table()
    assert sorted(first.column("id").to_pylist()) == [1, 2, 3]


def test_column_names_spark_and_trino_cannot_read_are_refused_at_upload_and_upsert(
    api: Api,
) -> None:
    r = upload(api, "spaced", "first name,a;b,ok\n1,2,3\n")
    assert r.status_code == 422, r.text
    body = r.json()
    assert [e["loc"] for e in body["errors"]] == [
        ["body", "file", "columns", "first name"],
        ["body", "file", "columns", "a;b"],
    ]
    assert "rename it, e.g. 'first_name'" in body["errors"][0]["msg"]
    assert api.get("/datasets/").json() == []
    r = api.put(
        "/datasets/upsert/",
        json={"dataset_name": "u", "row_unique_identifier": "id", "data": [{"id": 1, "a b": 2}]},
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "data", "*", "a b"]
