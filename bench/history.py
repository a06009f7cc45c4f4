"""A dataset written by every run: what one more version costs as its history grows.

Issue 7 asks for speed "at one run or a thousand". Each run of a pipeline commits a new
Delta version of every output, and every version stays readable, so a table written by a
pipeline that runs every minute holds 10,000 versions within a week. Timed here, in-process
on a local table, as a step's write does it (``delta.commit_copy`` on a base brought forward
after each commit; the checkpoint every 100 versions written off the clock, as the worker's
background thread does): committing one more version, opening the table afresh (what a
process that has not kept a base pays, e.g. an Argo pod), and reading the files and schema
of the version half-way back. Baseline: each at 100 versions. Issue 20's target: the
10,000th version commits and opens within 2x the 100th (``deltalog.py`` says why delta-rs's
own open and commit grew with the history: they list ``_delta_log``, one entry per version).
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import duckdb

from bench.stats import Figure, Target
from headrace.storage import delta
from headrace.storage.snapshots import brought_forward

SIZES = (100, 1_000, 10_000)
TARGET = Target("ratio", 2.0)  # issue 20: the 10,000th version within 2x the 100th
SAMPLES = 20  # the last commits (and as many opens) before each size is reached
WARM_UP = 3


def _written(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[Any, ...]]:
    folder = delta.new_write_folder(table)
    return con.execute(
        f"COPY (SELECT range AS id, range % 7 AS bucket FROM range(100)) "
        f"TO '{folder}/part-0.parquet' (FORMAT parquet, RETURN_STATS)"
    ).fetchall()


def _grow(sizes: tuple[int, ...]) -> dict[int, tuple[list[float], list[float], list[float]]]:
    """Milliseconds of the last ``SAMPLES`` commits before each size, and of as many opens
    and reads of the version half-way back."""
    timings: dict[int, tuple[list[float], list[float], list[float]]] = {}
    con = duckdb.connect()
    with tempfile.TemporaryDirectory(prefix="headrace-bench-history-") as table:
        delta.commit_copy(table, _written(con, table), base=None)
        base = delta.open_base(table)
        for size in sizes:
            commits: list[float] = []
            while (version := int(base.version()) if base else 0) < size:
                written = _written(con, table)
                started = time.perf_counter()
                delta.commit_copy(table, written, base=base, checkpoint=False)
                if version >= size - SAMPLES:
                    commits.append((time.perf_counter() - started) * 1000)
                base = brought_forward(table, base)
                if base is not None:
                    delta.checkpoint_if_due(base, version + 1)
            for _ in range(WARM_UP):  # first uses (imports, caches) are not the history's cost
                delta.open_base(table)
                delta.snapshot(table, size // 2)
            opens, reads = [], []
            for _ in range(SAMPLES):
                started = time.perf_counter()
                delta.open_base(table)
                opens.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                delta.snapshot(table, size // 2)
                reads.append((time.perf_counter() - started) * 1000)
            timings[size] = (commits, opens, reads)
    con.close()
    return timings


def measure(quick: bool) -> dict[str, Any]:
    sizes = SIZES[:2] if quick else SIZES
    timings = _grow(sizes)
    kinds = ("commit", "open", "read v/2")
    first = [
        Figure(f"{kind}, {sizes[0]:,} versions", timings[sizes[0]][i], "ms")
        for i, kind in enumerate(kinds)
    ]
    figures = [f.as_dict(None) for f in first]
    for size in sizes[1:]:
        for i, kind in enumerate(kinds):
            target = TARGET if size == SIZES[-1] and kind != "read v/2" else None
            figure = Figure(f"{kind}, {size:,} versions", timings[size][i], "ms", target)
            figures.append(figure.as_dict(first[i]))
    title = "a dataset's history: one more version as versions pile up"
    return {"title": title, "figures": figures}
