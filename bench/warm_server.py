"""Issue 7 target 2: the example pipeline triggered over HTTP on a running ``headrace serve``
(SQLite, in-process worker), from the POST that creates the run to its ``Succeeded``.

The end is the run's own ``finished_at`` (same clock as the client), so how often the client
looks changes the figure only through the server's time its requests take: it looks as
``Client.wait`` does by default (every 0.25 s; looking every 50 ms, as this did before, took
~40 % of the server's GIL time during a run). Baseline: ``GET /healthz`` on the same server,
the least any request costs there. Every run computes its steps (``use_cache`` off): the
same run again would otherwise reuse every step and time nothing but the bookkeeping.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import load, shop
from bench.server import environment, serve
from bench.stats import Figure, Target
from headrace.client import Client


def _trigger_to_end(client: Client, pipeline_id: str) -> float:
    """Milliseconds from just before the POST to the run's finished_at."""
    start = dt.datetime.now(dt.UTC)
    run = client.wait(client.start_run(pipeline_id, use_cache=False), timeout=120)
    if run.status != "Succeeded" or run.finished_at is None:
        raise RuntimeError(f"the benchmark run ended {run.status}")
    return (run.finished_at - start).total_seconds() * 1000


def measure(quick: bool) -> dict[str, Any]:
    runs = 10 if quick else 30
    with tempfile.TemporaryDirectory(prefix="headrace-bench-warm-") as tmp:
        env = environment(Path(tmp), None)
        with serve(env) as server, Client(server.url, server.api_key) as client:
            pipeline_id = shop.prepare(client)
            for _ in range(2):  # first runs read the sources' Delta logs; later ones do not
                _trigger_to_end(client, pipeline_id)
            samples = []
            for _ in range(runs):
                samples.append(_trigger_to_end(client, pipeline_id))
                time.sleep(0.05)
            health = load.latencies_ms(server.url, server.headers, load.get("/healthz"), runs)
    base = Figure("GET /healthz", health, "ms")
    median = Figure("trigger -> Succeeded (5 steps)", samples, "ms", Target("median", 150))
    tail = Figure("trigger -> Succeeded, p95", samples, "ms", Target("p95", 300))
    return {
        "title": "2. tiny pipeline, warm server (SQLite, in-process worker)",
        "figures": [base.as_dict(None), median.as_dict(base), tail.as_dict(base)],
    }
