"""Issue 7 target 3: the example pipeline at 10 million orders, against raw DuckDB doing the
same work.

Baseline: one plain DuckDB connection running the pipeline's five SELECTs in dependency order,
each written to a Parquet file with COPY and read back by the next: the least a system could
do and still keep every step's output. headrace adds the metadata store, the sandbox, the
Delta commits and the bookkeeping on top. Each measurement runs in a fresh process; its peak
memory is the larger of its own ``ru_maxrss`` and the peak total of it and every process it
started (sampled every 10 ms: headrace may run steps in child processes).
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

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "shop" / "pipeline.yaml"


def _child(mode: str, data: Path, work: Path) -> dict[str, Any]:
    """Run one measurement in a new interpreter and return what it printed."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.pipeline", mode, str(data), str(work)],
        check=True,
        capture_output=True,
        text=True,
        cwd=EXAMPLE.parent.parent.parent,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def make_orders(data: Path, rows: int) -> None:
    """The example's customers and products, and ``rows`` synthetic orders, as Parquet."""
    import duckdb

    data.mkdir(parents=True, exist_ok=True)
    src = EXAMPLE.parent / "data"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM read_csv('{src}/customers.csv')) TO '{data}/customers.parquet'"
    )
    con.execute(f"COPY (SELECT * FROM read_csv('{src}/products.csv')) TO '{data}/products.parquet'")
    con.execute(
        f"""COPY (SELECT range + 1 AS order_id, 1 + (hash(range) % 200)::BIGINT AS customer_id,
                    1 + (hash(range * 7) % 50)::BIGINT AS product_id,
                    1 + (hash(range * 13) % 5)::BIGINT AS quantity,
                    TIMESTAMP '2026-10-01' + to_seconds((hash(range * 17) % 2592000)::BIGINT)
                      AS ordered_at
             FROM range({rows})) TO '{data}/orders.parquet' (ROW_GROUP_SIZE 1000000)"""
    )
    con.close()


def _steps() -> list[Any]:
    from headrace.cli.pipeline_file import load

    return load(EXAMPLE).steps


def _raw(data: Path, work: Path) -> None:
    import duckdb

    con = duckdb.connect()
    for name in ("customers", "products", "orders"):
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{data}/{name}.parquet')")
    for step in _steps():
        out = step.config.output_datasets[0]
        target = work / f"{out}.parquet"
        con.execute(f"COPY ({step.config.query}) TO '{target}' (FORMAT parquet)")
        con.execute(f"CREATE VIEW {out} AS SELECT * FROM read_parquet('{target}')")
    con.close()


def _load(data: Path, work: Path) -> None:
    """Load the inputs as datasets and create the pipeline (in a process of its own, so its
    memory is not the run's)."""
    from headrace.cli.context import open_database
    from headrace.runtime import Runtime
    from headrace.services import datasets, keys, pipelines
    from headrace.settings import Settings

    settings = Settings(data_dir=work, run_worker=False)
    db = open_database(settings, migrate=True)
    who = keys.local_principal(db)
    with Runtime(settings, db) as rt:
        for name in ("customers", "products", "orders"):
            path = data / f"{name}.parquet"
            source = datasets.SourceFile(path=str(path), filename=path.name, content_type=None)
            datasets.upload(rt, who, name, source)
    pipelines.create(db, who, "bench", "", _steps())


def _headrace(work: Path) -> float:
    """Time one run of the loaded pipeline from trigger to its end."""
    from headrace.cli.context import open_runtime
    from headrace.services import keys, pipelines, runs
    from headrace.services.executors import open_worker
    from headrace.settings import Settings

    settings = Settings(data_dir=work, run_worker=False)
    with open_runtime(settings, migrate=False) as rt:
        db = rt.db
        who = keys.local_principal(db)
        pipeline_id = pipelines.find(db, who, "bench").pipeline.id
        start = time.perf_counter()
        view = runs.create(db, settings, who, pipeline_id, start=None, end=None, version_id=None)
        worker = open_worker(rt)
        worker.claim(only=view.run.id)
        status = worker.execute(view.run.id)
        elapsed = time.perf_counter() - start
    if status.value != "Succeeded":
        raise SystemExit(f"the benchmark run ended {status}")
    return elapsed


def main() -> None:
    from bench import rss

    mode, data, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if mode == "load":
        _load(data, work)
        print(json.dumps({"mode": mode}))
        return
    start = time.perf_counter()
    with rss.sampled(os.getpid()) as seen:  # steps may run in child processes
        if mode == "raw":
            _raw(data, work)
            elapsed = time.perf_counter() - start
        else:
            elapsed = _headrace(work)
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = max(own_peak, seen[0][1]) / 1024
    print(json.dumps({"mode": mode, "seconds": elapsed, "peak_mb": peak_mb}))


def measure(quick: bool) -> dict[str, Any]:
    """Alternate raw and headrace runs on 10 million orders (1 million when ``quick``)."""
    rows, repeat = (1_000_000, 2) if quick else (10_000_000, 3)
    result = compare(rows, repeat)
    for figure in result["figures"]:
        if "ratio" in figure:
            limit = 1.2 if figure["unit"] == "s" else 1.5
            figure.update(target=f"ratio < {limit}", met=figure["ratio"] < limit)
    return {"title": f"3. data: the example pipeline on {rows:,} orders", **result}


def compare(rows: int, repeat: int) -> dict[str, Any]:
    """Alternate raw and headrace runs ``repeat`` times on ``rows`` orders."""
    from bench.stats import Figure

    with tempfile.TemporaryDirectory(prefix="headrace-bench-") as tmp:
        data = Path(tmp) / "data"
        make_orders(data, rows)
        results: dict[str, list[dict[str, Any]]] = {"raw": [], "headrace": []}
        for i in range(repeat):
            for mode in ("raw", "headrace"):
                work = Path(tmp) / f"{mode}-{i}"
                work.mkdir()
                if mode == "headrace":
                    _child("load", data, work)
                results[mode].append(_child(mode, data, work))
    wall = {m: Figure(f"{m} wall", [r["seconds"] for r in rs]) for m, rs in results.items()}
    peak = {
        m: Figure(f"{m} peak RSS", [r["peak_mb"] for r in rs], "MB") for m, rs in results.items()
    }
    return {
        "rows": rows,
        "figures": [
            wall["raw"].as_dict(None),
            wall["headrace"].as_dict(wall["raw"]),
            peak["raw"].as_dict(None),
            peak["headrace"].as_dict(peak["raw"]),
        ],
    }


if __name__ == "__main__":
    os.environ.setdefault("HEADRACE_RUN_WORKER", "false")
    main()
