"""/metrics: Prometheus text from the metadata store and the request middleware."""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from headrace.api.app import create_app
from headrace.domain.runs import RunStatus
from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo
from headrace.runtime import Runtime
from headrace.services.executors import open_worker
from headrace.settings import Settings
from tests.factories import Api, make_org, make_pipeline, move_run_to


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(text: str, name: str, **labels: str) -> float:
    return _samples(text)[(name, frozenset(labels.items()))]


def test_metrics_report_runs_steps_durations_and_request_latency(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    pipeline = make_pipeline(api)
    before = _trigger_latency_count(api.client.get("/metrics").text)
    run = api.post(f"/pipelines/{pipeline['id']}/runs/", json={}).json()
    worker = open_worker(runtime)
    assert worker.claim(only=uuid.UUID(run["id"])) is not None
    worker.execute(uuid.UUID(run["id"]))
    r = api.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert _value(r.text, "headrace_runs", status="Succeeded") >= 1
    assert _value(r.text, "headrace_run_steps", status="Succeeded") >= 3
    assert _value(r.text, "headrace_step_duration_seconds_count") >= 3
    assert _value(r.text, "headrace_step_duration_seconds_bucket", le="+Inf") >= 3
    assert _value(r.text, "headrace_run_queue_wait_seconds_count") >= 1
    assert _trigger_latency_count(r.text) == before + 1


def test_metrics_count_reused_steps_and_the_seconds_they_saved(runtime: Runtime, api: Api) -> None:
    from tests.execution.support import run_pipeline

    pipeline = make_pipeline(api)
    first = run_pipeline(api, runtime, pipeline["id"])
    before = api.client.get("/metrics").text
    second = run_pipeline(api, runtime, pipeline["id"])
    after = api.client.get("/metrics").text
    took = {s["name"]: s for s in first["run_steps"]}
    saved = [s["saved_seconds"] for s in second["run_steps"]]
    assert saved == [
        (
            dt.datetime.fromisoformat(took[n]["finished_at"])
            - dt.datetime.fromisoformat(took[n]["started_at"])
        ).total_seconds()
        for n in ("gen", "double", "total")
    ]
    count = "headrace_run_steps_reused"
    assert _value(after, count) - _value(before, count) == 3
    seconds = "headrace_reuse_saved_seconds"
    assert abs(_value(after, seconds) - _value(before, seconds) - sum(saved)) < 1e-6


def _trigger_latency_count(text: str) -> float:
    """How many run triggers the app has timed (the app is shared by the session's tests)."""
    key = (
        "headrace_http_request_duration_seconds_count",
        frozenset(
            {"method": "POST", "route": "/pipelines/{pipeline_id}/runs", "status": "201"}.items()
        ),
    )
    return _samples(text).get(key, 0.0)


def test_workers_are_reported_with_their_last_heartbeat(api: Api, db: Database) -> None:
    pipeline = make_pipeline(api)
    run = api.post(f"/pipelines/{pipeline['id']}/runs/", json={}).json()
    worker_id = f"test-worker-{uuid.uuid4().hex[:6]}"
    lease_until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    move_run_to(db, run["id"], RunStatus.RUNNING)
    with db.unit_of_work() as conn:
        runs_repo.take_lease(conn, uuid.UUID(run["id"]), worker_id, lease_until)
    try:
        text = api.client.get("/metrics").text
        beat = _value(text, "headrace_worker_last_heartbeat_timestamp_seconds", worker=worker_id)
        assert beat == (lease_until - dt.timedelta(seconds=30)).timestamp()
        assert _value(text, "headrace_workers_active") >= 1
    finally:
        move_run_to(db, run["id"], RunStatus.CANCELLED)
        with db.unit_of_work() as conn:
            runs_repo.release(conn, uuid.UUID(run["id"]))


def test_metrics_can_require_a_key(db: Database, settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics_require_auth": True})
    with Runtime(guarded, db) as rt, TestClient(create_app(guarded, rt)) as client:
        r = client.get("/metrics")
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
        viewer = make_org(client, db).with_role("viewer")
        assert viewer.get("/metrics").status_code == 200


def test_metrics_can_require_a_scrape_token(db: Database, settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics_token": SecretStr("scrape-me")})
    with Runtime(guarded, db) as rt, TestClient(create_app(guarded, rt)) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-me"}):
            r = client.get("/metrics", headers=headers)
            assert (r.status_code, r.json()["code"]) == (401, "unauthorized"), headers
            assert r.headers["WWW-Authenticate"] == "Bearer"
            assert "scrape-me" not in r.text
        # An organisation's key is not the scrape token.
        viewer = make_org(client, db).with_role("viewer")
        assert viewer.get("/metrics").status_code == 401
        r = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert r.status_code == 200
        assert _samples(r.text)  # Prometheus text, parsed
