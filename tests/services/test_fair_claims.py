"""Workers take runs fairly between organisations: one organisation's long or many runs never
keep another's waiting (a probe found org A's endless step keeping org B's one-step run
Pending until A cancelled), and ``HEADRACE_ORG_MAX_ACTIVE_RUNS`` caps one organisation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from headrace.api.app import create_app
from headrace.runtime import Runtime
from headrace.services.lifecycle import Lifecycle
from headrace.settings import Settings
from tests.factories import Api, make_org, make_pipeline, make_run

LEASE = 30.0


@dataclass
class Store:
    lifecycle: Lifecycle
    skip_locked: bool
    a: Api
    b: Api

    def runs(self, api: Api, count: int) -> list[uuid.UUID]:
        pipeline = make_pipeline(api)
        return [uuid.UUID(make_run(api, pipeline["id"])["id"]) for _ in range(count)]

    def claim(self, worker: str, org_limit: int = 0) -> uuid.UUID | None:
        run = self.lifecycle.claim(worker, LEASE, skip_locked=self.skip_locked, org_limit=org_limit)
        return None if run is None else run.id


@pytest.fixture
def store(own_database: str, tmp_path: Path) -> Iterator[Store]:
    settings = Settings(data_dir=tmp_path / "data", database_url=own_database, run_worker=False)
    with Runtime(settings) as rt, TestClient(create_app(settings, rt)) as client:
        yield Store(
            Lifecycle(rt.db), not rt.db.is_sqlite, make_org(client, rt.db), make_org(client, rt.db)
        )


def test_the_next_run_is_the_least_busy_organisation_s(store: Store) -> None:
    a_runs = store.runs(store.a, 3)
    (b_run,) = store.runs(store.b, 1)  # created after all of A's
    assert store.claim("w1") == a_runs[0]  # nobody busy: oldest first
    assert store.claim("w2") == b_run  # A has a run in progress, B none
    assert store.claim("w3") == a_runs[1]  # one each: oldest first again
    assert store.claim("w4") == a_runs[2]
    assert store.claim("w5") is None


def test_an_organisation_at_its_limit_waits_and_others_do_not(store: Store) -> None:
    a_runs = store.runs(store.a, 2)
    b_runs = store.runs(store.b, 2)
    assert store.claim("w1", org_limit=1) == a_runs[0]
    assert store.claim("w2", org_limit=1) == b_runs[0]
    assert store.claim("w3", org_limit=1) is None  # both at their limit
    assert store.claim("w3", org_limit=2) == a_runs[1]
