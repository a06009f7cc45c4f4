"""Issue 7 target 5, on PostgreSQL: runs accepted per second with 16 clients triggering at
once, then runs completed per second by ``headrace worker --processes 2``, each step exactly
once.

The pipeline has one step (``SELECT … FROM range(100)`` written to a dataset), so the figures
are the bookkeeping, not the SQL. Triggering happens with no worker running (the server's
worker is off), on a server with ``API_PROCESSES`` API processes, then on one with one (the
default); the workers start afterwards and drain the queue. Their rate is the number of
runs over the span from the first step's start to the last run's end (the store's own
timestamps), counting every run that ended (each client's first, untimed request triggers
one too); the workers get at most 240 s (60 s with --quick), so the suite stays bounded.
"Exactly once" is checked in the step logs: each step logged ``started`` once. The workers'
CPU time per completed run (their processes and the step processes under them, as the kernel
accounts for reaped children) does not depend on how busy the rest of the machine is, as the
rate does.
Baselines: ``GET /healthz`` from 16 clients on the same server; raw DuckDB running the same
statement with ``COPY … TO`` a new Parquet file, as many times, in one connection.
"""

from __future__ import annotations

import resource
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from bench import load, postgres
from bench.server import API_PROCESSES, HEADRACE, create_org, environment, serve, stop
from bench.stats import Figure, Target
from headrace.client import Client
from headrace.persistence.tables import runs, step_logs

QUERY = "SELECT range AS n, range * 2 AS twice FROM range(100)"
STEP = {
    "name": "tick",
    "config": {
        "job_type": "data-transform",
        "query_type": "sql",
        "input_datasets": [],
        "output_datasets": ["ticks"],
        "query": QUERY,
    },
}


def _raw_rate(count: int, folder: Path) -> float:
    import duckdb

    con = duckdb.connect()
    start = time.perf_counter()
    for i in range(count):
        con.execute(f"COPY ({QUERY}) TO '{folder}/ticks-{i}.parquet' (FORMAT parquet)")
    elapsed = time.perf_counter() - start
    con.close()
    return count / elapsed


def _drain(url: str, env: dict[str, str], budget: float) -> dict[str, float]:
    """Start two workers, let them work until every run has ended or ``budget`` seconds have
    passed, stop them; what the store says of the runs that ended."""
    log = open(Path(env["HEADRACE_DATA_DIR"]) / "workers.log", "ab")  # noqa: SIM115
    cpu_before = _children_cpu()
    workers = subprocess.Popen(
        [HEADRACE, "worker", "--processes", "2"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    engine = create_engine(url)
    active = runs.c.status.in_(("Pending", "Running"))
    try:
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(select(func.count()).where(active)).scalar_one() == 0:
                    break
            time.sleep(0.25)
        stop(workers)
        with engine.connect() as conn:
            ended = ~active
            first, last = conn.execute(
                select(func.min(runs.c.started_at), func.max(runs.c.finished_at)).where(ended)
            ).one()
            count = conn.execute(select(func.count()).where(ended)).scalar_one()
            left = conn.execute(select(func.count()).where(active)).scalar_one()
            succeeded = conn.execute(
                select(func.count()).where(runs.c.status == "Succeeded")
            ).scalar_one()
            starts = (
                select(step_logs.c.run_id, func.count().label("n"))
                .where(step_logs.c.line == "started")
                .group_by(step_logs.c.run_id, step_logs.c.step_name)
                .subquery()
            )
            twice = conn.execute(select(func.count()).where(starts.c.n > 1)).scalar_one()
            started = select(starts.c.run_id)
            never = conn.execute(
                select(func.count()).where(ended, runs.c.id.not_in(started))
            ).scalar_one()
    finally:
        stop(workers)
        log.close()
        engine.dispose()
    return {
        "rate": count / (last - first).total_seconds(),
        "cpu_ms_per_run": (_children_cpu() - cpu_before) * 1000 / max(count, 1),
        "not_succeeded": float(count - succeeded),
        "twice_or_never": float(twice + never),
        "left": float(left),
    }


def _children_cpu() -> float:
    """User and system seconds of this process's ended and reaped descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(quick: bool) -> dict[str, Any]:
    rounds, per_round = 4, (50 if quick else 250)
    count = rounds * per_round
    with (
        tempfile.TemporaryDirectory(prefix="headrace-bench-tp-") as tmp,
        postgres.database() as url,
    ):
        env = environment(Path(tmp), url, run_worker="false")
        key = create_org(env)
        with serve(env | API_PROCESSES, key) as server:
            with Client(server.url, server.api_key) as client:
                pipeline_id = client.create_pipeline("ticks", [STEP]).id
            trigger = load.post_json(f"/pipelines/{pipeline_id}/runs/", {})
            health = load.get("/healthz")
            h_rates, rates = [], []
            for _ in range(rounds - 1):  # the last round goes to the one-process server
                h_rates.append(load.rate(server.url, server.headers, health, per_round))
                rates.append(load.rate(server.url, server.headers, trigger, per_round))
        with serve(env, key) as single:
            single_rates = [load.rate(single.url, single.headers, trigger, per_round)]
        drained = _drain(url, env, budget=60 if quick else 240)
        raw = [_raw_rate(min(count, 200), Path(tmp)) for _ in range(3)]
    h_fig = Figure("GET /healthz, 16 clients", h_rates, "req/s")
    raw_fig = Figure("raw DuckDB: statement + COPY", raw, "runs/s")
    return {
        "title": f"5. throughput on PostgreSQL, {count:,} runs",
        "figures": [
            h_fig.as_dict(None),
            Figure(
                "runs accepted, 16 clients", rates, "runs/s", Target("median", 100, below=False)
            ).as_dict(h_fig),
            Figure("same, 1 API process", single_rates, "runs/s").as_dict(h_fig),
            raw_fig.as_dict(None),
            Figure(
                "runs completed, 2 worker processes",
                [drained["rate"]],
                "runs/s",
                Target("median", 20, below=False),
            ).as_dict(raw_fig),
            Figure("worker CPU per completed run", [drained["cpu_ms_per_run"]], "ms").as_dict(None),
            Figure(
                "steps started twice, or ended without starting",
                [drained["twice_or_never"]],
                "steps",
                Target("max", 0.5),
            ).as_dict(None),
            Figure(
                "ended runs not Succeeded", [drained["not_succeeded"]], "runs", Target("max", 0.5)
            ).as_dict(None),
            Figure("runs left when the time was up", [drained["left"]], "runs").as_dict(None),
        ],
    }
