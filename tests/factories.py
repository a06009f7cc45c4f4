"""Plain ``make_*`` helpers for tests: organisations, keys, pipeline bodies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from headrace.domain.runs import RunStatus, StepStatus
from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo
from headrace.services import keys
from headrace.services.lifecycle import Lifecycle, StepReport
from headrace.settings import Settings

# The server key of the tests' servers (it encrypts webhook signing secrets).
TEST_SECRET_KEY = "test-server-key-" + "k" * 32


@dataclass
class Api:
    """An HTTP client bound to one API key: the app's TestClient, or an ``httpx.Client``
    of a live server."""

    client: httpx.Client
    key: str
    org_id: str

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **(extra or {})}

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = self.headers(kwargs.pop("headers", None))
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    def with_role(self, role: str) -> Api:
        """Another key of the same organisation with ``role``."""
        r = self.post("/api-keys/", json={"name": f"{role}-key", "role": role})
        assert r.status_code == 201, r.text
        return Api(self.client, r.json()["api_key"], self.org_id)


def make_org(client: TestClient, db: Database, name: str | None = None) -> Api:
    new = keys.create_org(db, name or f"org-{uuid.uuid4().hex[:6]}")
    return Api(client, new.secret, str(new.record.org_id))


def make_step(
    name: str, query: str, inputs: list[str] | None = None, outputs: list[str] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "config": {
            "job_type": "data-transform",
            "query_type": "sql",
            "query": query,
            "input_datasets": inputs or [],
            "output_datasets": outputs if outputs is not None else [f"{name}_out"],
        },
    }


def generated_steps() -> list[dict[str, Any]]:
    """A three-step chain that needs no uploaded dataset: gen → double → total."""
    return [
        make_step("gen", "SELECT range AS n FROM range(10)", [], ["numbers"]),
        make_step("double", "SELECT n * 2 AS n FROM numbers", ["numbers"], ["doubled"]),
        make_step("total", "SELECT sum(n)::BIGINT AS total FROM doubled", ["doubled"], ["total"]),
    ]


def make_pipeline(
    api: Api, steps: list[dict[str, Any]] | None = None, name: str | None = None
) -> dict[str, Any]:
    body = {"name": name or f"p-{uuid.uuid4().hex[:8]}", "steps": steps or generated_steps()}
    r = api.post("/pipelines/", json=body)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def make_run(api: Api, pipeline_id: str, **body: Any) -> dict[str, Any]:
    """POST a run (``body`` holds start_job_name/end_job_name/version_id) and return it."""
    r = api.post(f"/pipelines/{pipeline_id}/runs/", json=body)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def diamond_steps() -> list[dict[str, Any]]:
    """src → (left, right) → join: a diamond that needs no uploaded dataset."""
    return [
        make_step("src", "SELECT range AS n FROM range(5)", [], ["base"]),
        make_step("left", "SELECT n FROM base WHERE n % 2 = 0", ["base"], ["evens"]),
        make_step("right", "SELECT n FROM base WHERE n % 2 = 1", ["base"], ["odds"]),
        make_step(
            "join",
            "SELECT * FROM evens UNION ALL SELECT * FROM odds",
            ["evens", "odds"],
            ["all_numbers"],
        ),
    ]


def add_dataset_version(db: Database, org_id: str, name: str) -> None:
    """Record a catalog version of dataset ``name`` (metadata only: no bytes are written),
    as an upload would, so that runs may read it as an external input."""
    from headrace.services import datasets
    from headrace.storage.delta import WrittenVersion

    dataset_id = datasets.ensure(db, uuid.UUID(org_id), name)
    written = WrittenVersion(
        version=0, row_count=1, bytes=1, schema=[{"name": "n", "type": "int64"}]
    )
    datasets.record_version(db, dataset_id, written, operation="upload")


def make_runs(api: Api, db: Database, settings: Settings, pipeline_id: str, count: int) -> None:
    """Create ``count`` whole runs of the current version through the service (no HTTP), for
    tests that need many runs quickly."""
    from headrace.services import runs

    who = keys.authenticate(db, api.key, None)
    for _ in range(count):
        runs.create(
            db, settings, who, uuid.UUID(pipeline_id), start=None, end=None, version_id=None
        )


def app_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route of ``app``, including those of included routers (which
    FastAPI keeps behind one entry of ``app.routes`` per router). HEAD, which Starlette adds
    to every GET route, is left out."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        entries = (
            [(c.path, c.original_route) for c in contexts()] if contexts else [(route.path, route)]
        )
        for path, original in entries:
            for method in getattr(original, "methods", None) or ():
                if method != "HEAD":
                    found.add((method, path))
    return sorted(found)


def move_run_to(
    db: Database,
    run_id: str | uuid.UUID,
    run: RunStatus | None = None,
    steps: dict[str, StepStatus] | None = None,
) -> None:
    """Bring a run and its steps to these statuses through the lifecycle, as a worker would
    (a step reported ended goes through Running; a run ending goes through Running unless
    it is cancelled or errors while Pending): tests that play the worker use this."""
    lifecycle = Lifecycle(db)
    rid = uuid.UUID(str(run_id))
    with db.unit_of_work() as conn:
        ref = runs_repo.ref(conn, rid)
        assert ref is not None
        starts = run not in (None, RunStatus.PENDING, RunStatus.CANCELLED, RunStatus.ERROR)
        if starts and run_status(conn, rid) == RunStatus.PENDING:
            assert lifecycle.move_run(conn, ref, RunStatus.PENDING, RunStatus.RUNNING)
        lifecycle.settle_steps(conn, ref, {n: StepReport(s) for n, s in (steps or {}).items()})
        current = RunStatus(run_status(conn, rid))
        if run is not None and current is not run:
            assert lifecycle.move_run(conn, ref, current, run)


def run_status(conn: Any, run_id: uuid.UUID) -> str:
    found = runs_repo.run_status(conn, run_id)
    assert found is not None
    return found
