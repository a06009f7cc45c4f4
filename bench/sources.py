"""Issue 20 target 1: ``headrace run`` of the example pipeline on large Parquet sources
(10 M orders; 1 M with --quick), first on an empty data folder (the sources imported),
repeated (nothing to import, every step reused) and repeated with ``--no-cache`` (nothing to
import, every step computed again: the figure the 1.1x target is for), against a fresh
``python`` process running the same statements with raw DuckDB on the same Parquet files,
each output written to Parquet.

Peak memory is the resident size of the largest single process of each command's tree
(``headrace run``'s step processes included), sampled every 10 ms; the whole tree's peak is
reported beside it. The three commands run interleaved, so a burst of load hits each alike.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import yaml

from bench import rss, shop
from bench.cold_start import raw_script
from bench.server import HEADRACE, environment
from bench.stats import Figure, Target

CUSTOMERS = 100_000
PRODUCTS = 5_000


def write_sources(folder: Path, orders: int) -> dict[str, str]:
    """The example's three sources as Parquet files, shaped like its CSV files."""
    con = duckdb.connect()
    queries = {
        "customers": f"""SELECT range + 1 AS customer_id, 'Customer ' || range AS name,
            ['north', 'south', 'east', 'west'][range % 4 + 1] AS region,
            DATE '2024-01-01' + CAST(range % 700 AS INTEGER) AS signed_up_on
            FROM range({CUSTOMERS})""",
        "products": f"""SELECT range + 1 AS product_id, 'Item ' || range AS title,
            ['kitchen', 'garden', 'toys', 'books', 'tools'][range % 5 + 1] AS category,
            round(1 + (range % 997) / 10, 2) AS unit_price
            FROM range({PRODUCTS})""",
        "orders": f"""SELECT range + 1 AS order_id,
            CAST(hash(range) % {CUSTOMERS} AS BIGINT) + 1 AS customer_id,
            CAST(hash(range + 1) % {PRODUCTS} AS BIGINT) + 1 AS product_id,
            CAST(range % 9 + 1 AS INTEGER) AS quantity,
            TIMESTAMP '2026-01-01' + to_seconds(CAST(range % 31536000 AS BIGINT)) AS ordered_at
            FROM range({orders})""",
    }
    paths = {}
    for name, query in queries.items():
        path = folder / f"{name}.parquet"
        con.execute(f"COPY ({query}) TO '{path}' (FORMAT parquet)")
        paths[name] = path.name
    con.close()
    return paths


def measured(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, int]:
    """Wall seconds, the largest process's peak kB and the whole tree's peak kB."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    with rss.sampled(process.pid) as found:
        _, err = process.communicate()
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{command[:2]} failed: {err.decode()[-2000:]}")
    largest = max((peak for pid, (_, peak) in found.items() if pid != 0), default=0)
    return wall, largest, found[0][1]


def measure(quick: bool) -> dict[str, Any]:
    orders, repeat = (1_000_000, 2) if quick else (10_000_000, 3)
    with tempfile.TemporaryDirectory(prefix="headrace-bench-sources-") as tmp:
        folder = Path(tmp)
        spec = shop.definition()
        spec["sources"] = write_sources(folder, orders)
        pipeline = folder / "pipeline.yaml"
        pipeline.write_text(yaml.safe_dump(spec, sort_keys=False))
        data = folder / "data"
        env = environment(data, None)
        out = folder / "raw"
        out.mkdir()
        raw_cmd = [sys.executable, "-c", raw_script(out, pipeline, "read_parquet")]
        run_cmd = [HEADRACE, "run", str(pipeline)]
        commands = {"raw": raw_cmd, "first": run_cmd, "repeat": run_cmd}
        commands["recompute"] = [*run_cmd, "--no-cache"]
        kinds = tuple(commands)
        wall: dict[str, list[float]] = {k: [] for k in kinds}
        peak: dict[str, list[float]] = {k: [] for k in kinds}
        tree: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(repeat):
            for kind in kinds:
                if kind == "first":
                    shutil.rmtree(data, ignore_errors=True)
                seconds, largest, whole = measured(commands[kind], env, folder)
                wall[kind].append(seconds)
                peak[kind].append(largest / 1024)
                tree[kind].append(whole / 1024)
    raw_f = Figure("raw DuckDB process, same 5 statements", wall["raw"])
    raw_mem = Figure("raw DuckDB process, peak RSS", peak["raw"], "MB")
    return {
        "title": f"9. Parquet sources, {orders:,} orders: first and repeat headrace run",
        "figures": [
            raw_f.as_dict(None),
            Figure(
                "headrace run, first (sources imported)",
                wall["first"],
                target=Target("ratio", 1.3),
            ).as_dict(raw_f),
            Figure("headrace run, repeat (every step reused)", wall["repeat"]).as_dict(raw_f),
            Figure(
                "headrace run, repeat --no-cache (every step computed)",
                wall["recompute"],
                target=Target("ratio", 1.1),
            ).as_dict(raw_f),
            raw_mem.as_dict(None),
            Figure(
                "headrace run, first: largest process's peak RSS",
                peak["first"],
                "MB",
                Target("ratio", 1.3),
            ).as_dict(raw_mem),
            Figure(
                "headrace run, repeat --no-cache: largest process's peak RSS",
                peak["recompute"],
                "MB",
                Target("ratio", 1.3),
            ).as_dict(raw_mem),
            Figure("headrace run, first: whole tree's peak RSS", tree["first"], "MB").as_dict(
                raw_mem
            ),
        ],
    }
