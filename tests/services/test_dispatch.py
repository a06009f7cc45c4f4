"""Webhook deliveries from the event outbox, end to end on both stores: a loopback receiver
that verifies every signature fails the first two deliveries and gets the third; the queue
and the consumer's cursor survive a restart; a URL that turns private is not sent to."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from headrace.api.app import create_app
from headrace.domain.runs import RunStatus, StepStatus
from headrace.persistence.db import Database
from headrace.services.dispatch import Dispatcher, forget_finished, retry_at
from headrace.services.senders import open_senders
from headrace.services.webhooks import WebhookConsumer
from headrace.settings import Settings
from tests.factories import Api, make_org, make_pipeline, make_run, move_run_to
from tests.services.receiver import Receiver


class Clock:
    """The dispatcher's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class Setup:
    url: str
    settings: Settings
    api: Api


@pytest.fixture
def setup(own_database: str, settings: Settings) -> Iterator[Setup]:
    """An app over a store of its own (each dispatcher here reads every event of its store)
    that accepts loopback webhooks."""
    own = settings.model_copy(update={"database_url": own_database, "webhook_allow_private": True})
    with TestClient(create_app(own)) as client:
        db = client.app.state.db  # type: ignore[attr-defined]
        yield Setup(own_database, own, make_org(client, db))


def dispatcher(url: str, settings: Settings, clock: Clock) -> tuple[Dispatcher, Database]:
    """A dispatcher as a (re)started worker process has: its own connections."""
    db = Database(url)
    senders, _close = open_senders(db, settings)
    return Dispatcher(db, [WebhookConsumer()], senders, clock=clock), db


def hook(api: Api, receiver: Receiver, events: list[str]) -> str:
    r = api.post("/webhooks/", json={"url": receiver.url, "events": events})
    assert r.status_code == 201, r.text
    receiver.secrets.append(r.json()["secret"])
    return str(r.json()["id"])


def deliveries(api: Api, webhook_id: str) -> list[dict[str, object]]:
    r = api.get(f"/webhooks/{webhook_id}/deliveries/")
    assert r.status_code == 200, r.text
    found: list[dict[str, object]] = r.json()
    return found


def test_a_delivery_refused_twice_arrives_at_the_third_attempt_across_a_restart(
    setup: Setup,
) -> None:
    clock = Clock()
    with Receiver(fail_first=2) as receiver:
        webhook_id = hook(setup.api, receiver, ["run.cancelled", "run.succeeded"])
        pipeline = make_pipeline(setup.api)
        run = make_run(setup.api, pipeline["id"])
        cancel = setup.api.post(f"/pipelines/{pipeline['id']}/runs/{run['id']}/cancel/")
        assert cancel.status_code == 200

        first, db = dispatcher(setup.url, setup.settings, clock)
        assert first.tick() == 1
        [failed] = deliveries(setup.api, webhook_id)
        assert failed["attempts"] == 1 and failed["status_code"] == 500
        assert failed["delivered_at"] is None and failed["next_attempt_at"] is not None
        assert failed["error"] == "the receiver answered 500"
        assert first.tick() == 0  # not due yet: nothing sent
        clock.advance(10)
        assert first.tick() == 1
        db.dispose()  # the worker process ends; its queue is rows in the store

        clock.advance(30)
        restarted, db = dispatcher(setup.url, setup.settings, clock)
        assert restarted.tick() == 1
        assert restarted.tick() == 0
        db.dispose()

    assert len(receiver.received) == 3
    assert all(r.verified for r in receiver.received)
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1
    message = receiver.received[0].message
    assert message["type"] == "run.cancelled"
    assert message["data"]["run_id"] == run["id"]
    assert message["data"]["status"] == "Cancelled"
    assert message["data"]["previous_status"] == "Pending"
    [delivered] = deliveries(setup.api, webhook_id)
    assert delivered["id"] == receiver.received[0].headers["webhook-id"]
    assert delivered["attempts"] == 3 and delivered["status_code"] == 204
    assert delivered["delivered_at"] is not None and delivered["next_attempt_at"] is None
    assert delivered["error"] is None


def test_each_event_is_queued_once_across_restarts_and_only_for_subscribers(
    setup: Setup,
) -> None:
    clock = Clock()
    with Receiver() as receiver:
        wants_starts = hook(setup.api, receiver, ["run.started", "run.succeeded"])
        wants_failures = hook(setup.api, receiver, ["run.failed"])
        pipeline = make_pipeline(setup.api)
        first_run = make_run(setup.api, pipeline["id"])
        move_run_to(
            Database(setup.url), first_run["id"], RunStatus.SUCCEEDED, {"gen": StepStatus.SUCCEEDED}
        )
        one, db = dispatcher(setup.url, setup.settings, clock)
        assert one.tick() == 2  # run.started, run.succeeded
        db.dispose()

        second_run = make_run(setup.api, pipeline["id"])  # while no dispatcher runs
        move_run_to(Database(setup.url), second_run["id"], RunStatus.FAILED)
        two, db = dispatcher(setup.url, setup.settings, clock)
        assert two.tick() == 2  # the second run's run.started and run.failed
        assert two.tick() == 0
        db.dispose()

    assert all(r.verified for r in receiver.received)
    sent = [(r.message["type"], r.message["data"]["run_id"]) for r in receiver.received]
    assert sent == [
        ("run.started", first_run["id"]),
        ("run.succeeded", first_run["id"]),
        ("run.started", second_run["id"]),
        ("run.failed", second_run["id"]),
    ]
    assert {d["event"] for d in deliveries(setup.api, wants_starts)} == {
        "run.started",
        "run.succeeded",
    }
    assert [d["event"] for d in deliveries(setup.api, wants_failures)] == ["run.failed"]


def test_a_url_that_resolves_privately_at_delivery_is_not_sent_to(
    setup: Setup,
) -> None:
    """The webhook was made while private addresses were allowed; the worker's settings no
    longer allow them: its delivery is refused after resolution, kept, and due again."""
    clock = Clock()
    with Receiver() as receiver:
        webhook_id = hook(setup.api, receiver, ["run.cancelled"])
        pipeline = make_pipeline(setup.api)
        run = make_run(setup.api, pipeline["id"])
        setup.api.post(f"/pipelines/{pipeline['id']}/runs/{run['id']}/cancel/")
        strict = setup.settings.model_copy(update={"webhook_allow_private": False})
        worker, db = dispatcher(setup.url, strict, clock)
        assert worker.tick() == 1
        db.dispose()
    assert receiver.received == []
    [refused] = deliveries(setup.api, webhook_id)
    assert refused["status_code"] is None and refused["next_attempt_at"] is not None
    assert "127.0.0.1, which is not a public address" in str(refused["error"])


def test_retries_wait_longer_each_time_and_stop_after_24_hours() -> None:
    queued = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    middle = 0.5  # no jitter
    waits = []
    now = queued
    for attempts in range(1, 30):
        due = retry_at(queued, attempts, now, jitter=lambda: middle)
        if due is None:
            break
        waits.append((due - now).total_seconds())
        now = due
    assert waits[:4] == [5, 20, 80, 320]
    assert max(waits) == 2 * 3600
    assert now <= queued + dt.timedelta(hours=24)
    assert now + dt.timedelta(hours=2) > queued + dt.timedelta(hours=24)
    assert retry_at(queued, 1, queued, jitter=lambda: 1.0) == queued + dt.timedelta(seconds=6)
    assert retry_at(queued, 1, queued, jitter=lambda: 0.0) == queued + dt.timedelta(seconds=4)


def test_deleting_a_webhook_drops_its_queue(setup: Setup) -> None:
    clock = Clock()
    with Receiver(fail_first=1) as receiver:
        webhook_id = hook(setup.api, receiver, ["run.cancelled"])
        pipeline = make_pipeline(setup.api)
        run = make_run(setup.api, pipeline["id"])
        setup.api.post(f"/pipelines/{pipeline['id']}/runs/{run['id']}/cancel/")
        worker, db = dispatcher(setup.url, setup.settings, clock)
        assert worker.tick() == 1
        assert setup.api.delete(f"/webhooks/{webhook_id}/").status_code == 204
        clock.advance(3600)
        assert worker.tick() == 0
        db.dispose()
    assert len(receiver.received) == 1
    assert uuid.UUID(receiver.received[0].headers["webhook-id"])


def test_uploads_and_upserts_tell_of_each_new_dataset_version(setup: Setup) -> None:
    clock = Clock()
    with Receiver() as receiver:
        hook(setup.api, receiver, ["dataset.version"])
        body = {"dataset_name": "cities", "row_unique_identifier": "id", "data": [{"id": 1}]}
        assert setup.api.put("/datasets/upsert/", json=body).status_code == 200
        body["data"] = [{"id": 2}]
        assert setup.api.put("/datasets/upsert/", json=body).status_code == 200
        upload = {"file": ("rows.csv", b"id\n1\n", "text/csv")}
        assert setup.api.post("/datasets/", data={"name": "towns"}, files=upload).status_code == 201
        worker, db = dispatcher(setup.url, setup.settings, clock)
        assert worker.tick() == 3
        db.dispose()
    assert all(r.verified for r in receiver.received)
    told = [(r.message["data"]["name"], r.message["data"]["version"]) for r in receiver.received]
    assert told == [("cities", 0), ("cities", 1), ("towns", 0)]
    assert {r.message["data"]["run_id"] for r in receiver.received} == {None}


def test_two_worker_processes_queue_and_send_each_event_once(setup: Setup) -> None:
    """Two dispatchers with connections of their own, as two worker processes have, drain
    the outbox and send at the same time: the cursor's row lock and the deliveries' claim
    let each event be queued once and each delivery be sent once."""
    clock = Clock()
    with Receiver() as receiver:
        hook(setup.api, receiver, ["run.cancelled"])
        pipeline = make_pipeline(setup.api)
        runs = [make_run(setup.api, pipeline["id"])["id"] for _ in range(12)]
        for run_id in runs:
            setup.api.post(f"/pipelines/{pipeline['id']}/runs/{run_id}/cancel/")
        pair = [dispatcher(setup.url, setup.settings, clock) for _ in range(2)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            sent = sum(pool.map(lambda d: d[0].tick() + d[0].tick(), pair))
        for _, db in pair:
            db.dispose()
    assert sent == 12
    told = sorted(r.message["data"]["run_id"] for r in receiver.received)
    assert told == sorted(runs)


def test_the_sweep_forgets_finished_deliveries_past_their_retention(setup: Setup) -> None:
    clock = Clock()
    with Receiver(fail_first=1) as receiver:
        webhook_id = hook(setup.api, receiver, ["run.cancelled"])
        pipeline = make_pipeline(setup.api)
        for _ in range(2):
            run = make_run(setup.api, pipeline["id"])
            setup.api.post(f"/pipelines/{pipeline['id']}/runs/{run['id']}/cancel/")
        worker, db = dispatcher(setup.url, setup.settings, clock)
        assert worker.tick() == 2  # one refused (due again), one delivered
        day = dt.timedelta(days=1)
        assert forget_finished(db, clock.now + 30 * day, retention_days=30) == 0
        assert forget_finished(db, clock.now + 32 * day, retention_days=30) == 1
        db.dispose()
    [left] = deliveries(setup.api, webhook_id)
    assert left["delivered_at"] is None and left["next_attempt_at"] is not None
