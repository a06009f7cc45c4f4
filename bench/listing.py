"""Issue 7 target 4: ``GET /pipelines/{id}/runs/?limit=100`` over 100,000 runs, on SQLite and
on PostgreSQL.

One real run of the example pipeline is created through the API; the store is then seeded
with copies of it (new ids and names, ``Succeeded``, one minute apart) by bulk inserts into
the repositories' own tables. The server runs without its worker, with ``API_PROCESSES`` API
processes (``headrace serve --workers``, one per core here); the 16-client rate is measured
again on one process (the default). Baseline: ``GET /healthz`` on the same server, one client
for latency and 16 for throughput. The SQL statements one listing request sends are counted
in-process at ``limit=1`` and ``limit=100``.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, insert, select

from bench import load, postgres, shop
from bench.server import API_PROCESSES, Server, create_org, environment, serve
from bench.stats import Figure, Target
from headrace.client import Client
from headrace.persistence.tables import run_steps, runs

BATCH = 2_000


def seed(url: str, run_id: str, count: int) -> None:
    """``count`` copies of the run ``run_id`` (and its steps), newest a minute ago."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            template = dict(
                conn.execute(select(runs).where(runs.c.id == uuid.UUID(run_id))).one()._mapping
            )
            steps = [
                dict(r._mapping)
                for r in conn.execute(select(run_steps).where(run_steps.c.run_id == template["id"]))
            ]
        now = dt.datetime.now(dt.UTC)
        for first in range(0, count, BATCH):
            run_rows: list[dict[str, Any]] = []
            step_rows: list[dict[str, Any]] = []
            for i in range(first, min(first + BATCH, count)):
                new_id = uuid.uuid4()
                created = now - dt.timedelta(minutes=i + 1)
                run_rows.append(
                    template
                    | {
                        "id": new_id,
                        "name": f"{template['name']}-{i:07d}",
                        "status": "Succeeded",
                        "created_at": created,
                        "started_at": created + dt.timedelta(seconds=1),
                        "finished_at": created + dt.timedelta(seconds=3),
                    }
                )
                step_rows += [
                    s
                    | {
                        "id": uuid.uuid4(),
                        "run_id": new_id,
                        "status": "Succeeded",
                        "started_at": created + dt.timedelta(seconds=1),
                        "finished_at": created + dt.timedelta(seconds=2),
                        "rows_written": 1200,
                        "bytes_written": 40_000,
                    }
                    for s in steps
                ]
            with engine.begin() as conn:
                conn.execute(insert(runs), run_rows)
                conn.execute(insert(run_steps), step_rows)
    finally:
        engine.dispose()


def queries_per_request(url: str, data_dir: Path, api_key: str, path: str) -> dict[int, int]:
    """SQL statements sent by one listing request at ``limit`` 1 and 100 (in-process)."""
    from fastapi.testclient import TestClient

    from headrace.api.app import create_app
    from headrace.persistence.db import Database
    from headrace.runtime import Runtime
    from headrace.settings import Settings

    db = Database(url)
    settings = Settings(data_dir=data_dir, database_url=url, run_worker=False)
    app = create_app(settings, Runtime(settings, db))
    sent = [0]

    def count(*_: object) -> None:
        sent[0] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    found = {}
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as client:
        for limit in (1, 100):
            client.get(path, params={"limit": limit}).raise_for_status()  # warm
            sent[0] = 0
            client.get(path, params={"limit": limit}).raise_for_status()
            found[limit] = sent[0]
    db.dispose()
    return found


@contextmanager
def _store(backend: str, folder: Path) -> Iterator[str]:
    if backend == "postgres":
        with postgres.database() as url:
            yield url
    else:
        yield f"sqlite:///{folder / 'headrace.db'}"


def _backend(backend: str, count: int, quick: bool) -> list[dict[str, Any]]:
    requests = 30 if quick else 100
    with (
        tempfile.TemporaryDirectory(prefix="headrace-bench-list-") as tmp,
        _store(backend, Path(tmp)) as url,
    ):
        env = environment(Path(tmp), url, run_worker="false")
        key = create_org(env)
        with serve(env | API_PROCESSES, key) as server:
            with Client(server.url, server.api_key) as client:
                pipeline_id = shop.prepare(client)
                run_id = str(client.start_run(pipeline_id).id)
            seed(url, run_id, count - 1)
            path = f"/pipelines/{pipeline_id}/runs/"
            figures = _figures(backend, server, f"{path}?limit=100", requests)
        with serve(env, key) as single:
            figures.append(_single_process_rate(backend, single, f"{path}?limit=100", requests))
        queries = queries_per_request(url, Path(tmp), key, path)
    one = Figure(f"{backend}: SQL statements, limit=1", [float(queries[1])], "queries")
    hundred = Figure(
        f"{backend}: SQL statements, limit=100",
        [float(queries[100])],
        "queries",
        Target("ratio", 1.01),
    )
    return [*figures, one.as_dict(None), hundred.as_dict(one)]


def _rates(server: Server, request: load.Request, requests: int) -> list[float]:
    """Requests per second with 16 clients: one round of ``requests`` * 5 requests (about 10
    per client) with --quick, two of * 4 in the full run."""
    rounds, total = (1, requests * 5) if requests < 100 else (2, requests * 4)
    return [load.rate(server.url, server.headers, request, total) for _ in range(rounds)]


def _figures(backend: str, server: Server, path: str, requests: int) -> list[dict[str, Any]]:
    health = load.get("/healthz")
    listing = load.get(path)
    h_lat = Figure(
        f"{backend}: GET /healthz",
        load.latencies_ms(server.url, server.headers, health, requests),
        "ms",
    )
    lat = load.latencies_ms(server.url, server.headers, listing, requests)
    median = Figure(f"{backend}: list 100 runs", lat, "ms", Target("median", 25))
    tail = Figure(f"{backend}: list 100 runs, p99", lat, "ms", Target("p99", 75))
    h_rate = Figure(
        f"{backend}: GET /healthz, 16 clients", _rates(server, health, requests), "req/s"
    )
    rate = Figure(
        f"{backend}: list 100 runs, 16 clients",
        _rates(server, listing, requests),
        "req/s",
        Target("median", 200, below=False),
    )
    return [
        h_lat.as_dict(None),
        median.as_dict(h_lat),
        tail.as_dict(h_lat),
        h_rate.as_dict(None),
        rate.as_dict(h_rate),
    ]


def _single_process_rate(backend: str, server: Server, path: str, requests: int) -> dict[str, Any]:
    """The 16-client rate of a server with one API process (``headrace serve``'s default)."""
    return Figure(
        f"{backend}: same, 1 API process", _rates(server, load.get(path), requests), "req/s"
    ).as_dict(None)


def measure(quick: bool) -> dict[str, Any]:
    count = 10_000 if quick else 100_000
    figures = _backend("sqlite", count, quick) + _backend("postgres", count, quick)
    return {"title": f"4. run listing, {count:,} runs", "figures": figures}
