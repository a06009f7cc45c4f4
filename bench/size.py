"""Issue 7 target 6: pipelines of 100, 1,000 and 10,000 steps.

Creating a pipeline validates every step (SQL parsed with sqlglot, names, the graph) and
stores the version; creating a run of it compiles the plan, renders the Argo manifest and
stores one row per step. Both run in-process on SQLite through the services. The curve must
be linear: each size's time per step is shown as a ratio to the 100-step pipeline's. The
manifest's bytes and render time come from ``bench.argo_manifest`` (same pipelines). Last,
runs of 100 and 1,000 such steps are executed by the local worker (no target: per step, the
bigger run should cost what the smaller does). Each is
also given in CPU seconds of this process (``time.process_time``), which other work on a shared
machine inflates far less than the wall time it waits for a core.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import argo_manifest
from bench.stats import Figure, Target

SIZES = (100, 1_000, 10_000)


class _Clock:
    """Wall and CPU seconds since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _create(folder: Path, count: int, repeat: int) -> dict[str, list[tuple[float, float]]]:
    """Wall and CPU seconds to create the pipeline, and a run of it, ``repeat`` times each."""
    from headrace.cli.context import open_database
    from headrace.services import keys, pipelines, runs
    from headrace.settings import Settings

    steps = argo_manifest.realistic_steps(count)
    settings = Settings(data_dir=folder / f"s{count}", run_worker=False)
    db = open_database(settings, migrate=True)
    who = keys.local_principal(db)
    pipelines.create(db, who, "warm-up", "", steps[:2])  # imports sqlglot; not what is timed
    samples: dict[str, list[tuple[float, float]]] = {"create pipeline": [], "create run": []}
    for i in range(repeat):
        clock = _Clock()
        view = pipelines.create(db, who, f"p{count}-{i}", "", steps)
        samples["create pipeline"].append(clock.read())
        clock = _Clock()
        try:
            runs.create(db, settings, who, view.pipeline.id, start=None, end=None, version_id=None)
        except Exception as err:  # e.g. refused for its manifest size: report, keep going
            print(f"creating a run of {count} steps failed: {err}")
        samples["create run"].append(clock.read())
    db.dispose()
    return samples


def _execute(folder: Path, count: int) -> tuple[float, float]:
    """Wall and CPU seconds (this process; the steps' processes come on top) per step of a
    run of the ``count``-step pipeline executed here by the local worker: each step a
    trivial query, so what is timed is headrace's own work around a step."""
    from headrace.cli.context import open_runtime
    from headrace.services import keys, pipelines, runs
    from headrace.services.executors import open_worker
    from headrace.settings import Settings

    settings = Settings(data_dir=folder / f"x{count}", run_worker=False)
    with open_runtime(settings, migrate=True, worker=True) as rt:
        db = rt.db
        who = keys.local_principal(db)
        view = pipelines.create(db, who, f"x{count}", "", argo_manifest.realistic_steps(count))
        run = runs.create(
            db, settings, who, view.pipeline.id, start=None, end=None, version_id=None
        )
        worker = open_worker(rt)
        claimed = worker.claim(only=run.run.id)
        assert claimed is not None
        clock = _Clock()
        outcome = worker.execute(claimed)
        wall, cpu = clock.read()
    if outcome.value != "Succeeded":
        raise RuntimeError(f"the {count}-step run ended {outcome.value}")
    return wall / count, cpu / count


def _executions(quick: bool) -> list[dict[str, Any]]:
    """Per step of runs of two sizes: linear when the bigger's per-step cost stays close."""
    sizes = (50, 200) if quick else (100, 1_000)
    figures: list[dict[str, Any]] = []
    baseline: Figure | None = None
    with tempfile.TemporaryDirectory(prefix="headrace-bench-execute-") as tmp:
        for count in sizes:
            wall, cpu = _execute(Path(tmp), count)
            each = Figure(f"run of {count:,} steps executed, per step", [wall * 1000], "ms")
            figures.append(each.as_dict(baseline))
            cpu_each = Figure(f"run of {count:,} steps executed, CPU per step", [cpu * 1000], "ms")
            figures.append(cpu_each.as_dict(None))
            baseline = baseline or each
    return figures


def measure(quick: bool) -> dict[str, Any]:
    repeat = 1 if quick else 3
    sizes = SIZES[:2] if quick else SIZES
    figures: list[dict[str, Any]] = []
    per_step: dict[str, Figure] = {}
    with tempfile.TemporaryDirectory(prefix="headrace-bench-size-") as tmp:
        for count in sizes:
            for label, timings in _create(Path(tmp), count, repeat).items():
                samples = [wall for wall, _ in timings]
                limit = 2.0 if label == "create pipeline" and count == 10_000 else None
                target = Target("median", limit) if limit else None
                figures.append(
                    Figure(f"{count:,} steps: {label}", samples, target=target).as_dict(None)
                )
                cpu = [cpu for _, cpu in timings]
                figures.append(Figure(f"{count:,} steps: {label}, CPU", cpu).as_dict(None))
                each = Figure(
                    f"{count:,} steps: {label}, per step",
                    [s / count * 1e6 for s in samples],
                    "us",
                    Target("ratio", 2.0) if count > sizes[0] else None,
                )
                baseline = per_step.setdefault(label, each)
                figures.append(each.as_dict(None if baseline is each else baseline))
    argo = argo_manifest.measure(repeat=2 if quick else 5)
    for figure in argo["figures"]:
        if figure["name"] == "10,000 steps: render":
            figure.update(target="median < 1000", met=figure["median"] < 1000)
        if figure["name"] == "10,000 steps: manifest":
            figure.update(target="median < 1e+06", met=figure["median"] < 1_000_000)
    return {
        "title": "6. size: pipelines of 100 / 1,000 / 10,000 steps",
        "figures": figures + argo["figures"] + _executions(quick),
    }
