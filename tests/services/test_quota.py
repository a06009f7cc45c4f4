"""Each organisation's storage quota (``HEADRACE_ORG_STORAGE_QUOTA_BYTES``), on both metadata
stores over HTTP: an upload, an upsert or a step's output that would take the organisation
past it is refused (413, or the step Failed) with nothing kept, one that fits is accepted,
and another organisation's writes are unaffected by the first one's usage.

Every write here makes a version of between half the quota and the quota: the first fits,
a second of the same organisation does not, another organisation's first fits again."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from headrace.api.app import create_app
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.settings import Settings
from headrace.storage import delta
from headrace.storage.warehouse import Warehouse
from tests.api.test_bad_uploads import check_error_shape
from tests.execution.support import execute, get_run, runtime_with, steps, table_path
from tests.factories import Api, make_org, make_pipeline, make_run, make_step

QUOTA = 250_000
# Each a version of between half the quota and the quota (the tests check it).
ROWS = 14_000
HASHES = "SELECT i AS n, md5(i::VARCHAR) AS h FROM range(5000) t(i)"
CSV = "n,h\n" + "".join(f"{i},{uuid.UUID(int=i * 7919).hex}\n" for i in range(ROWS))
UPSERT = [{"n": i, "h": uuid.UUID(int=i * 104729).hex} for i in range(ROWS)]


@dataclass
class Limited:
    """The app and runtime of settings with ``QUOTA`` on the session's store."""

    client: TestClient
    runtime: Runtime

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def org(self, db: Database) -> Api:
        return make_org(self.client, db)


@pytest.fixture(scope="module")
def limited(runtime: Runtime, settings: Settings) -> Iterator[Limited]:
    quota = settings.model_copy(update={"org_storage_quota_bytes": QUOTA})
    with (
        runtime_with(runtime, quota) as rt,
        TestClient(create_app(quota, rt), raise_server_exceptions=False) as client,
    ):
        yield Limited(client, rt)


def _files(settings: Settings, api: Api) -> set[str]:
    """Every file in the organisation's part of the warehouse and in the upload scratch."""
    org = Warehouse(settings.effective_warehouse).org_folder(uuid.UUID(api.org_id))
    scratch = os.path.join(str(settings.data_dir), "tmp")
    found = set()
    for root in (org, scratch):
        for folder, _, names in os.walk(root):
            found |= {os.path.join(folder, n) for n in names}
    return found


def _refused(r: Any, used: int) -> None:
    body = check_error_shape(r, 413)
    assert body["code"] == "payload_too_large"
    assert f"storage quota of {QUOTA:,} bytes" in body["detail"], body
    assert f"already use {used:,}" in body["detail"], body


def _version_bytes(api: Api, dataset_id: str) -> list[int]:
    r = api.get(f"/datasets/{dataset_id}/")
    assert r.status_code == 200, r.text
    return [v["bytes"] for v in r.json()["versions"]]


def _upload(api: Api, name: str) -> Any:
    return api.post("/datasets/", data={"name": name}, files={"file": ("h.csv", CSV.encode())})


def test_an_upload_past_the_quota_is_413_and_keeps_nothing(limited: Limited, db: Database) -> None:
    a, settings = limited.org(db), limited.settings
    first = _upload(a, "hashes")
    assert first.status_code == 201, first.text
    [size] = _version_bytes(a, first.json()["id"])
    assert QUOTA / 2 < size <= QUOTA, size
    before = _files(settings, a)
    _refused(_upload(a, "hashes"), size)  # its next version
    _refused(_upload(a, "more"), size)  # a new dataset
    assert [d["name"] for d in a.get("/datasets/").json()] == ["hashes"]
    assert _version_bytes(a, first.json()["id"]) == [size]
    assert delta.current_version(table_path(db, settings, a.org_id, "hashes")) == 0
    assert _files(settings, a) == before, "a refused upload left files"
    b = limited.org(db)  # another organisation: its own quota, untouched
    assert _upload(b, "hashes").status_code == 201


def _upsert(api: Api, name: str, data: list[dict[str, Any]]) -> Any:
    body = {"dataset_name": name, "row_unique_identifier": "n", "data": data}
    return api.put("/datasets/upsert/", json=body)


def test_an_upsert_past_the_quota_is_413_and_keeps_nothing(limited: Limited, db: Database) -> None:
    a, settings = limited.org(db), limited.settings
    first = _upsert(a, "keyed", UPSERT)
    assert first.status_code == 200, first.text
    [size] = _version_bytes(a, first.json()["id"])
    assert QUOTA / 2 < size <= QUOTA, size
    before = _files(settings, a)
    _refused(_upsert(a, "keyed", [{"n": 0, "h": "changed"}]), size)  # a merge
    _refused(_upsert(a, "other", UPSERT), size)  # a new dataset
    assert [d["name"] for d in a.get("/datasets/").json()] == ["keyed"]
    assert _version_bytes(a, first.json()["id"]) == [size]
    assert delta.current_version(table_path(db, settings, a.org_id, "keyed")) == 0
    assert _files(settings, a) == before, "a refused upsert left files"
    b = limited.org(db)
    assert _upsert(b, "keyed", UPSERT).status_code == 200
    c = limited.org(db)  # a merge that fits
    assert _upsert(c, "few", UPSERT[:2]).status_code == 200
    merged = _upsert(c, "few", [{"n": 0, "h": "changed"}, {"n": 5, "h": "new"}])
    assert merged.status_code == 200, merged.text
    assert (merged.json()["current_version"], merged.json()["row_count"]) == (1, 3)


def test_a_step_past_the_quota_fails_and_keeps_nothing(limited: Limited, db: Database) -> None:
    """The step's output limit is what is left of the quota: a run that fits succeeds, the
    same run again is stopped and Failed with one sentence naming the quota, and another
    organisation's run still succeeds."""
    a, settings = limited.org(db), limited.settings
    pipeline = make_pipeline(a, [make_step("hash", HASHES, [], ["hashed"])])

    def run(api: Api, pipeline_id: str) -> dict[str, Any]:
        made = make_run(api, pipeline_id, use_cache=False)
        execute(limited.runtime, made["id"])
        return steps(get_run(api, pipeline_id, made["id"]))["hash"]

    fits = run(a, pipeline["id"])
    assert fits["status"] == "Succeeded", fits
    [dataset] = a.get("/datasets/").json()
    [size] = _version_bytes(a, dataset["id"])
    assert QUOTA / 2 < size <= QUOTA, size
    before = _files(settings, a)
    past = run(a, pipeline["id"])
    assert past["status"] == "Failed", past
    assert past["error"] == (
        f"the step's outputs would take the organisation past its storage quota of {QUOTA:,} "
        "bytes (HEADRACE_ORG_STORAGE_QUOTA_BYTES), of which its datasets already use "
        f"{size:,}, so it was stopped and nothing was kept"
    )
    assert past["output_versions"] == {}
    assert _version_bytes(a, dataset["id"]) == [size]
    assert _files(settings, a) == before, "a stopped step left files"
    b = limited.org(db)
    other = make_pipeline(b, [make_step("hash", HASHES, [], ["hashed"])])
    assert run(b, other["id"])["status"] == "Succeeded"
