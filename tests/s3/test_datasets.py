"""/datasets/ with the warehouse in S3 (moto): every version lands in the bucket, older
versions stay readable, upserts merge there, downloads read from there, deletion removes
the objects."""

from __future__ import annotations

import csv
import io
import uuid

import pyarrow.fs as pafs
from deltalake import DeltaTable

from headrace.settings import Settings
from headrace.storage.warehouse import Warehouse
from tests.api.test_datasets import CSV, CSV_ROWS, rows_of, upload
from tests.factories import Api


def _table(settings: Settings, api: Api, dataset_id: str) -> str:
    return Warehouse.from_settings(settings).table(uuid.UUID(api.org_id), uuid.UUID(dataset_id))


def _objects(settings: Settings, table: str) -> list[str]:
    """The keys under the table in the bucket, relative to it."""
    warehouse = Warehouse.from_settings(settings)
    assert warehouse.store is not None
    root = table.removeprefix("s3://")
    selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
    infos = warehouse.store.filesystem.get_file_info(selector)
    return sorted(i.path[len(root) + 1 :] for i in infos if i.type == pafs.FileType.File)


def test_upload_makes_versions_in_the_bucket_and_keeps_the_old(
    s3_api: Api, s3_settings: Settings
) -> None:
    name = f"d-{uuid.uuid4().hex[:8]}"
    first = upload(s3_api, name, CSV)
    assert first.status_code == 201, first.text
    second = upload(s3_api, name, "id,name\n9,kiwi\n")
    assert second.status_code == 201, second.text
    d = second.json()
    assert d["current_version"] == 1

    table = _table(s3_settings, s3_api, d["id"])
    assert table.startswith(s3_settings.effective_warehouse + "/")
    keys = _objects(s3_settings, table)
    assert "_delta_log/00000000000000000000.json" in keys
    assert "_delta_log/00000000000000000001.json" in keys
    assert len([k for k in keys if k.endswith(".parquet")]) == 2
    # deltalake reads the bucket on its own: the versions really are there.
    options = Warehouse.from_settings(s3_settings).store
    assert options is not None
    old = DeltaTable(table, version=0, storage_options=options.storage_options)
    assert old.to_pyarrow_table().column("name").to_pylist() == ["apple", "pear", "fig"]

    assert rows_of(s3_api, d["id"]) == [{"id": 9, "name": "kiwi"}]
    assert rows_of(s3_api, d["id"], version=0) == CSV_ROWS
    r = s3_api.get(f"/datasets/{d['id']}/download", params={"format": "csv", "version": 0})
    assert r.status_code == 200
    assert list(csv.reader(io.StringIO(r.text))) == list(csv.reader(io.StringIO(CSV)))


def test_upsert_merges_in_the_bucket(s3_api: Api, s3_settings: Settings) -> None:
    body = {
        "dataset_name": f"u-{uuid.uuid4().hex[:8]}",
        "row_unique_identifier": "id",
        "data": [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}],
    }
    r = s3_api.put("/datasets/upsert/", json=body)
    assert r.status_code == 200, r.text
    d = r.json()
    body["data"] = [{"id": 2, "v": "B"}, {"id": 3, "v": "c"}]
    r = s3_api.put("/datasets/upsert/", json=body)
    assert r.status_code == 200, r.text
    assert (r.json()["current_version"], r.json()["row_count"]) == (1, 3)

    got = sorted(rows_of(s3_api, d["id"]), key=lambda x: x["id"])
    assert got == [{"id": 1, "v": "a"}, {"id": 2, "v": "B"}, {"id": 3, "v": "c"}]
    old = sorted(rows_of(s3_api, d["id"], version=0), key=lambda x: x["id"])
    assert old == [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    keys = _objects(s3_settings, _table(s3_settings, s3_api, d["id"]))
    assert "_delta_log/00000000000000000001.json" in keys


def test_delete_removes_the_objects(s3_api: Api, s3_settings: Settings) -> None:
    r = upload(s3_api, f"d-{uuid.uuid4().hex[:8]}", CSV)
    assert r.status_code == 201, r.text
    table = _table(s3_settings, s3_api, r.json()["id"])
    assert _objects(s3_settings, table)

    assert s3_api.delete(f"/datasets/{r.json()['id']}/").status_code == 204
    assert _objects(s3_settings, table) == []
