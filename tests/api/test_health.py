"""The probes a platform points at each API process: ``/healthz`` (alive, and which version)
and ``/readyz`` (the metadata store answers)."""

from __future__ import annotations

from fastapi.testclient import TestClient

import headrace
from headrace.persistence.db import Database

# Nothing listens on port 1: a store that refuses every connection.
UNREACHABLE = "postgresql+psycopg://headrace:headrace@127.0.0.1:1/headrace"


def test_healthz_names_the_version_serving(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": headrace.__version__}


def test_readyz_is_ready_while_the_store_answers(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_readyz_is_503_in_the_error_shape_when_the_store_does_not_answer(
    client: TestClient,
) -> None:
    app = client.app
    reachable = app.state.db  # type: ignore[attr-defined]
    gone = Database(UNREACHABLE)
    app.state.db = gone  # type: ignore[attr-defined]
    try:
        r = client.get("/readyz")
    finally:
        app.state.db = reachable  # type: ignore[attr-defined]
        gone.dispose()
    assert r.status_code == 503
    body = r.json()
    assert body["code"] == "unavailable"
    assert body["detail"] == "the metadata store does not answer"
    assert body["errors"] == []
    assert client.get("/healthz").status_code == 200  # alive all the same
