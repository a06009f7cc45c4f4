"""What ``Idempotency-Key`` costs a POST (issue 19): a run triggered with a new key (the key
taken, the answer sealed and kept before it is sent) and the same POST sent again (the answer
replayed without reaching the route), against the same POST without a key, on one
``headrace serve`` (SQLite, no worker, so nothing else competes). The three are interleaved,
one of each in turn, so that the machine's load moves them alike.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.load import Connection, Request
from bench.server import environment, serve
from bench.stats import Figure
from headrace.client import Client

_STEP = {
    "name": "one",
    "config": {
        "job_type": "data-transform",
        "query_type": "sql",
        "query": "SELECT 1 AS n",
        "input_datasets": [],
        "output_datasets": ["one"],
    },
}


def _ms(conn: Connection, request: Request) -> float:
    start = time.perf_counter()
    conn.send(request)
    return (time.perf_counter() - start) * 1000


def measure(quick: bool) -> dict[str, Any]:
    count = 30 if quick else 200
    plain: list[float] = []
    keyed: list[float] = []
    replayed: list[float] = []
    with tempfile.TemporaryDirectory(prefix="headrace-bench-idem-") as tmp:
        env = environment(Path(tmp), None, run_worker="false")
        with serve(env) as server, Client(server.url, server.api_key) as client:
            pipeline = client.create_pipeline("idempotency", [_STEP])
            path = f"/pipelines/{pipeline.id}/runs/"
            body = json.dumps({}).encode()
            conn = Connection(server.url, {"Authorization": f"Bearer {server.api_key}"})
            try:
                for i in range(count + 5):  # the first 5 of each warm up
                    run = Request("POST", path, body, "application/json")
                    key = {"Idempotency-Key": str(uuid.uuid4())}
                    with_key = Request("POST", path, body, "application/json", key)
                    samples = (_ms(conn, run), _ms(conn, with_key), _ms(conn, with_key))
                    if i >= 5:
                        plain.append(samples[0])
                        keyed.append(samples[1])
                        replayed.append(samples[2])
            finally:
                conn.close()
    base = Figure("POST …/runs/ without a key", plain, "ms")
    first = Figure("POST …/runs/ with a new Idempotency-Key", keyed, "ms")
    again = Figure("the same POST again (replayed)", replayed, "ms")
    return {
        "title": "Idempotency-Key on a run's POST (SQLite, no worker)",
        "figures": [base.as_dict(None), first.as_dict(base), again.as_dict(base)],
    }
