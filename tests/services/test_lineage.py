"""OpenLineage events from the outbox: a real run's START and COMPLETE, and a failed run's
FAIL, reach a loopback OpenLineage endpoint intact, with datasets, versions, schemas and
check results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.services.dispatch import Dispatcher, consumers
from headrace.services.executors import open_worker
from headrace.services.lineage import PRODUCER
from headrace.services.senders import open_senders
from headrace.settings import Settings
from tests.factories import Api, make_org, make_step
from tests.services.receiver import Receiver
from tests.services.test_dispatch import Clock


@dataclass
class Lineage:
    api: Api
    runtime: Runtime
    dispatcher: Dispatcher
    receiver: Receiver

    def run(self, pipeline: dict[str, Any]) -> dict[str, Any]:
        """Start a run of ``pipeline`` and follow it to its end on a real worker."""
        r = self.api.post(f"/pipelines/{pipeline['id']}/runs/", json={})
        assert r.status_code == 201, r.text
        assert open_worker(self.runtime).run_once() is not None
        run: dict[str, Any] = self.api.get(
            f"/pipelines/{pipeline['id']}/runs/{r.json()['id']}/"
        ).json()
        return run

    def events(self) -> list[dict[str, Any]]:
        assert all(r.path == "/api/v1/lineage" for r in self.receiver.received)
        return [json.loads(r.body) for r in self.receiver.received]


@pytest.fixture
def lineage(own_database: str, settings: Settings) -> Iterator[Lineage]:
    with Receiver() as receiver:
        own = settings.model_copy(
            update={"database_url": own_database, "openlineage_url": receiver.base_url + "/"}
        )
        db = Database(own_database)
        from headrace.api.app import create_app

        with Runtime(own, db) as runtime, TestClient(create_app(own, runtime)) as client:
            senders, close = open_senders(db, own)
            dispatcher = Dispatcher(db, consumers(db, own), senders, clock=Clock())
            assert dispatcher.tick() == 0  # lineage starts at the newest event
            yield Lineage(make_org(client, db), runtime, dispatcher, receiver)
            close()
        db.dispose()


def _by_name(datasets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in datasets}


def test_a_runs_start_and_completion_carry_its_datasets_versions_schemas_and_checks(
    lineage: Lineage,
) -> None:
    api = lineage.api
    rows = [{"id": 1, "city": "Lyon", "people": 522}, {"id": 2, "city": "Graz", "people": 291}]
    body = {"dataset_name": "cities", "row_unique_identifier": "id", "data": rows}
    assert api.put("/datasets/upsert/", json=body).status_code == 200
    big = make_step(
        "big", "SELECT city, people FROM cities WHERE people > 300", ["cities"], ["big"]
    )
    big["config"]["checks"] = [{"type": "not_null", "column": "city"}]
    count = make_step("count", "SELECT count(*) AS n FROM big", ["big"], ["big_count"])
    r = api.post("/pipelines/", json={"name": "towns", "steps": [big, count]})
    assert r.status_code == 201, r.text
    run = lineage.run(r.json())
    assert run["status"] == "Succeeded"

    assert lineage.dispatcher.tick() == 2
    start, complete = lineage.events()
    namespace = f"headrace://{api.org_id}"
    for event in (start, complete):
        assert event["run"]["runId"] == run["id"]
        assert event["job"] == {
            "namespace": namespace,
            "name": "towns",
            "facets": {
                "jobType": {
                    "_producer": PRODUCER,
                    "_schemaURL": event["job"]["facets"]["jobType"]["_schemaURL"],
                    "processingType": "BATCH",
                    "integration": "HEADRACE",
                    "jobType": "PIPELINE",
                }
            },
        }
        assert event["producer"] == PRODUCER
    assert start["eventType"] == "START"
    assert [(d["namespace"], d["name"], d["facets"]) for d in start["inputs"]] == [
        (namespace, "cities", {})
    ]
    assert [d["name"] for d in start["outputs"]] == ["big", "big_count"]
    assert complete["eventType"] == "COMPLETE"
    [cities] = complete["inputs"]
    assert cities["name"] == "cities"
    assert cities["facets"]["version"]["datasetVersion"] == "0"
    assert [f["name"] for f in cities["facets"]["schema"]["fields"]] == ["id", "city", "people"]
    outputs = _by_name(complete["outputs"])
    assert set(outputs) == {"big", "big_count"}
    [n] = outputs["big_count"]["facets"]["schema"]["fields"]
    assert (n["name"], n["type"]) == ("n", "int64")
    assert [f["name"] for f in outputs["big"]["facets"]["schema"]["fields"]] == ["city", "people"]
    [assertion] = outputs["big"]["facets"]["dataQualityAssertions"]["assertions"]
    assert assertion["assertion"] == "not_null" and assertion["success"] is True
    assert assertion["column"] == "city"
    assert "errorMessage" not in complete["run"]["facets"]
    # column lineage through both steps, from the columns the version was saved with
    fields = outputs["big"]["facets"]["columnLineage"]["fields"]
    assert {c: [(f["name"], f["field"]) for f in v["inputFields"]] for c, v in fields.items()} == {
        "city": [("cities", "city")],
        "people": [("cities", "people")],
    }
    assert fields["city"]["inputFields"][0]["namespace"] == namespace
    assert "columnLineage" not in outputs["big_count"]["facets"]  # count(*) reads no column
    assert "columnLineage" not in start["outputs"][0]["facets"]


def test_a_failed_run_is_a_fail_with_its_error_and_failed_checks(lineage: Lineage) -> None:
    gate = make_step("gate", "SELECT * FROM (VALUES (1, NULL)) t(id, tag)", [], ["tags"])
    gate["config"]["checks"] = [{"type": "not_null", "column": "tag"}]
    r = lineage.api.post("/pipelines/", json={"name": "gated", "steps": [gate]})
    assert r.status_code == 201, r.text
    run = lineage.run(r.json())
    assert run["status"] == "Failed"
    assert lineage.dispatcher.tick() == 2
    start, fail = lineage.events()
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    assert fail["run"]["facets"]["errorMessage"]["message"].startswith("gate: ")
    [tags] = fail["outputs"]
    assert "version" not in tags["facets"]  # nothing was committed
    [assertion] = tags["facets"]["dataQualityAssertions"]["assertions"]
    assert assertion["success"] is False and assertion["actual"] == "1"
