"""Dataset triggers with an injected clock: new versions from an upsert or another
pipeline's run start one run per debounce window, with the versions that caused it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from headrace.runtime import Runtime
from headrace.services.scheduler import Scheduler
from headrace.settings import Settings
from tests.execution.support import execute, get_run
from tests.factories import Api, make_pipeline, make_step
from tests.services.scheduling import Clock, alone  # noqa: F401

pytestmark = pytest.mark.usefixtures("alone")  # only this test's triggers fire

T0 = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _upsert(api: Api, name: str, rows: list[dict[str, Any]]) -> int:
    body = {"dataset_name": name, "row_unique_identifier": "id", "data": rows}
    r = api.put("/datasets/upsert/", json=body)
    assert r.status_code == 200, r.text
    return int(r.json()["current_version"])


def _reader(api: Api, *datasets: str) -> dict[str, Any]:
    query = " UNION ALL ".join(f"SELECT id FROM {d}" for d in datasets)
    return make_pipeline(
        api, [make_step("r", query, list(datasets), [f"out_{uuid.uuid4().hex[:6]}"])]
    )


def _trigger(api: Api, pipeline_id: str, **body: Any) -> dict[str, Any]:
    r = api.post(f"/pipelines/{pipeline_id}/triggers/", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_a_burst_of_upserts_starts_one_run_after_the_debounce(
    api: Api, runtime: Runtime, settings: Settings
) -> None:
    _upsert(api, "events", [{"id": 1}])
    pipeline = _reader(api, "events")
    trigger = _trigger(api, pipeline["id"], datasets=["events"], debounce_seconds=10)
    clock = Clock(T0)
    scheduler = Scheduler(runtime.db, settings, clock=clock)
    assert scheduler.tick() == []  # the version there before the trigger starts nothing
    _upsert(api, "events", [{"id": 2}])
    assert scheduler.tick() == []  # the window opens
    clock.now = T0 + dt.timedelta(seconds=5)
    last = _upsert(api, "events", [{"id": 3}])
    assert scheduler.tick() == []
    clock.now = T0 + dt.timedelta(seconds=10)
    [run_id] = scheduler.tick()
    assert scheduler.tick() == []
    run = get_run(api, pipeline["id"], str(run_id))
    assert run["trigger"] == {
        "type": "dataset",
        "trigger_id": trigger["id"],
        "dataset_versions": {"events": last},
    }


def test_another_pipelines_run_triggers_with_mode_all(
    api: Api, runtime: Runtime, settings: Settings
) -> None:
    _upsert(api, "left", [{"id": 1}])
    writer = make_pipeline(api, [make_step("w", "SELECT 1 AS id", [], ["right"])])
    pipeline = _reader(api, "left", "right")
    _trigger(api, pipeline["id"], datasets=["left", "right"], mode="all", debounce_seconds=0)
    scheduler = Scheduler(runtime.db, settings, clock=Clock(T0))
    assert str(execute(runtime, _start(api, writer["id"]))) == "Succeeded"
    assert scheduler.tick() == []  # only one of the two has news
    version = _upsert(api, "left", [{"id": 2}])
    [run_id] = scheduler.tick()
    run = get_run(api, pipeline["id"], str(run_id))
    assert run["trigger"]["dataset_versions"] == {"left": version, "right": 0}


def _start(api: Api, pipeline_id: str) -> str:
    r = api.post(f"/pipelines/{pipeline_id}/runs/", json={})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])
