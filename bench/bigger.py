"""Issue 20 target 4: a step joining and aggregating more orders than its memory holds
(100 M orders under ``HEADRACE_STEP_MEMORY_LIMIT=2GB``; 10 M under 256MB with --quick)
completes by spilling, and no process of ``headrace run`` grows past 1.3x the limit plus a
fixed overhead: the largest process's peak in the same run of the same step on 10,000
orders. Not part of ``make bench``'s default sections: ``--only bigger``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from bench.server import HEADRACE, environment
from bench.sources import measured, write_sources
from bench.stats import Figure, Target
from headrace.execution.step_process import parse_bytes

QUERY = """
SELECT c.region, p.category, o.customer_id,
       count(*) AS orders,
       sum(o.quantity * p.unit_price) AS revenue,
       count(DISTINCT o.product_id) AS products
FROM orders AS o
JOIN customers AS c USING (customer_id)
JOIN products AS p USING (product_id)
GROUP BY ALL
ORDER BY revenue DESC
"""


def _pipeline(folder: Path, orders: int) -> Path:
    spec = {
        "name": "bigger",
        "sources": write_sources(folder, orders),
        "steps": [
            {
                "name": "customer_categories",
                "config": {
                    "job_type": "data-transform",
                    "query_type": "sql",
                    "input_datasets": ["orders", "customers", "products"],
                    "output_datasets": ["customer_categories"],
                    "query": QUERY,
                },
            }
        ],
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _run_kb(orders: int, limit: str, folder: Path) -> tuple[float, int]:
    """Wall seconds and the largest process's peak kB of one ``headrace run``."""
    folder.mkdir()
    env = environment(folder / "data", None) | {"HEADRACE_STEP_MEMORY_LIMIT": limit}
    seconds, largest, _ = measured([HEADRACE, "run", str(_pipeline(folder, orders))], env, folder)
    return seconds, largest


def measure(quick: bool) -> dict[str, Any]:
    orders, limit = (10_000_000, "256MB") if quick else (100_000_000, "2GB")
    with tempfile.TemporaryDirectory(prefix="headrace-bench-bigger-") as tmp:
        _, overhead_kb = _run_kb(10_000, limit, Path(tmp) / "small")
        seconds, peak_kb = _run_kb(orders, limit, Path(tmp) / "big")
    limit_mb = parse_bytes(limit) / 1024**2
    overhead = Figure(
        "fixed overhead: largest process, same step on 10,000 orders", [overhead_kb / 1024], "MB"
    )
    bound = 1.3 * limit_mb + overhead_kb / 1024
    return {
        "title": f"10. bigger than memory: {orders:,} orders under a {limit} step limit",
        "figures": [
            Figure(f"headrace run, {orders:,} orders (imported and run)", [seconds]).as_dict(None),
            overhead.as_dict(None),
            Figure(
                "largest process's peak RSS",
                [peak_kb / 1024],
                "MB",
                Target("max", bound),
            ).as_dict(None),
        ],
    }
