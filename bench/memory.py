"""Issue 7 target 7: memory.

- An idle ``headrace serve`` (SQLite, in-process worker) a few seconds after start-up: its
  resident set, and with the processes it keeps ready for steps; baseline: the smallest
  FastAPI app under uvicorn.
- One step sorting every order (a window over all rows, then ORDER BY), run through headrace
  with ``HEADRACE_STEP_MEMORY_LIMIT``: the most memory the step added to any one process,
  sampled every 10 ms for the run's process and every process under it (the step runs in one
  of them), each over what it held when first seen. A one-step run goes first, so processes
  kept ready for steps are already started. Compared with the limit (at most 1.1x) and with
  raw DuckDB running the same query with the same limit and threads, its ``COPY`` writing
  Parquet, in a fresh process.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import pipeline, rss
from bench.server import create_org, environment, free_port, serve, stop, vm_kb, wait_until_up
from bench.stats import Figure, Target

QUERY = """SELECT order_id, customer_id, product_id, quantity, ordered_at,
       row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at, order_id) AS nth
FROM orders
ORDER BY customer_id, ordered_at, order_id"""

MINIMAL_APP = """
import sys, fastapi, uvicorn
app = fastapi.FastAPI()
app.get("/healthz")(lambda: {"status": "ok"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _step(data: Path, work: Path) -> dict[str, float]:
    """In a fresh process: load the orders (not measured), then run one step."""
    from headrace.cli.context import open_database
    from headrace.domain.pipeline import DataTransform, Step
    from headrace.runtime import Runtime
    from headrace.services import datasets, keys, pipelines, runs
    from headrace.services.executors import open_worker
    from headrace.settings import Settings

    settings = Settings(data_dir=work, run_worker=False)
    db = open_database(settings, migrate=True)
    who = keys.local_principal(db)
    path = data / "orders.parquet"
    source = datasets.SourceFile(path=str(path), filename=path.name, content_type=None)
    rt = Runtime(settings, db)  # the process ends with the benchmark
    datasets.upload(rt, who, "orders", source)
    worker = open_worker(rt)

    def run(name: str, query: str) -> None:
        step = Step(name, DataTransform(query, ("orders",), (f"{name}_out",)))
        pipeline_id = pipelines.create(db, who, name, "", [step]).pipeline.id
        view = runs.create(db, settings, who, pipeline_id, start=None, end=None, version_id=None)
        worker.claim(only=view.run.id)
        status = worker.execute(view.run.id)
        if status.value != "Succeeded":
            raise SystemExit(f"the step {name} ended {status}")

    run("warm_up", "SELECT count(*) AS n FROM orders")
    time.sleep(2)  # processes kept ready for steps are started by now
    with rss.sampled(os.getpid()) as seen:
        run("sorted", QUERY)
    del seen[0]  # the tree's total: a process kept ready may start meanwhile
    return {"added_mb": max(peak - first for first, peak in seen.values()) / 1024}


def _raw(data: Path, work: Path, limit: str, threads: int) -> dict[str, float]:
    import duckdb

    con = duckdb.connect(config={"memory_limit": limit, "threads": threads})
    con.execute(f"SET temp_directory='{work}/spill'")
    con.execute(f"CREATE VIEW orders AS SELECT * FROM read_parquet('{data}/orders.parquet')")
    before = vm_kb(os.getpid(), "VmRSS")
    con.execute(f"COPY ({QUERY}) TO '{work}/sorted.parquet' (FORMAT parquet)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"added_mb": (peak - before) / 1024}


def _child(mode: str, data: Path, work: Path, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "bench.memory", mode, str(data), str(work)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    added: float = json.loads(out.stdout.strip().splitlines()[-1])["added_mb"]
    return added


def _idle(folder: Path) -> tuple[list[float], list[float], list[float]]:
    env = environment(folder, None)
    alone, tree, minimal = [], [], []
    with serve(env, create_org(env)) as server:
        for _ in range(3):
            time.sleep(1)
            alone.append(server.rss_mb())
            tree.append(rss.tree_kb(server.process.pid) / 1024)

    port = free_port()
    app = subprocess.Popen([sys.executable, "-c", MINIMAL_APP, str(port)])
    try:
        wait_until_up(f"http://127.0.0.1:{port}", app)
        for _ in range(3):
            time.sleep(1)
            minimal.append(vm_kb(app.pid, "VmRSS") / 1024)
    finally:
        stop(app)
    return alone, tree, minimal


def measure(quick: bool) -> dict[str, Any]:
    rows = 2_000_000 if quick else 10_000_000
    limit_mb = 250
    repeat = 1 if quick else 2
    with tempfile.TemporaryDirectory(prefix="headrace-bench-mem-") as tmp:
        folder = Path(tmp)
        alone, tree, minimal = _idle(folder / "idle")
        data = folder / "data"
        pipeline.make_orders(data, rows)
        env = environment(folder, None, step_memory_limit=f"{limit_mb}MB")
        steps: list[float] = []
        raws: list[float] = []
        for i in range(repeat):
            for mode, found in (("step", steps), ("raw", raws)):
                work = folder / f"{mode}-{i}"
                work.mkdir()
                found.append(_child(mode, data, work, env))
    base = Figure("minimal FastAPI app, idle", minimal, "MB")
    limit = Figure("HEADRACE_STEP_MEMORY_LIMIT", [limit_mb * 1000**2 / 1024**2], "MB")
    raw = Figure(f"raw DuckDB, same limit: sort {rows:,} orders", raws, "MB")
    return {
        "title": "7. memory",
        "figures": [
            base.as_dict(None),
            Figure("idle headrace serve", alone, "MB", Target("median", 200)).as_dict(base),
            Figure("idle headrace serve + its step processes", tree, "MB").as_dict(base),
            limit.as_dict(None),
            raw.as_dict(limit),
            Figure(
                f"headrace step: sort {rows:,} orders", steps, "MB", Target("ratio", 1.1)
            ).as_dict(limit),
        ],
    }


def main() -> None:
    mode, data, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if mode == "step":
        result = _step(data, work)
    else:
        from headrace.settings import Settings

        settings = Settings()
        result = _raw(data, work, settings.step_memory_limit, settings.step_threads)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
