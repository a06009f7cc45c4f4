"""Each warehouse serves its tables from its own object store: the store travels with the
table's location, so two warehouses in one process (two runtimes) never swap stores."""

from __future__ import annotations

import pickle
import uuid
from pathlib import Path

import pytest

from headrace.errors import SystemFailure
from headrace.storage import delta, objectstore
from headrace.storage.objectstore import ObjectStore
from headrace.storage.warehouse import Warehouse


def test_two_warehouses_on_one_root_keep_their_own_stores(tmp_path: Path) -> None:
    first = Warehouse("s3://bucket/w", ObjectStore(cache_dir=str(tmp_path / "first")))
    second = Warehouse("s3://bucket/w", ObjectStore(cache_dir=str(tmp_path / "second")))
    org, dataset = uuid.uuid4(), uuid.uuid4()
    mine, theirs = first.table(org, dataset), second.table(org, dataset)
    assert mine == theirs == f"s3://bucket/w/{org.hex}/{dataset.hex}"
    # A write's files are staged in the mirror of the warehouse the table came from.
    assert delta.new_write_folder(mine).startswith(str(tmp_path / "first"))
    assert delta.new_write_folder(theirs).startswith(str(tmp_path / "second"))


def test_a_table_keeps_its_store_when_sent_to_another_process(tmp_path: Path) -> None:
    store = ObjectStore(cache_dir=str(tmp_path / "mirror"), region="eu-west-1")
    table = Warehouse("s3://bucket/w", store).table(uuid.uuid4(), uuid.uuid4())
    copied = pickle.loads(pickle.dumps(table))
    assert copied == table
    assert objectstore.store_for(copied) == store


def test_an_s3_location_no_warehouse_made_has_no_store() -> None:
    assert objectstore.store_for("/data/warehouse/t") is None
    with pytest.raises(SystemFailure):
        objectstore.store_for("s3://bucket/w/t")
