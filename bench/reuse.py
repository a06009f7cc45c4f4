"""Issue 17: what step reuse saves, and what planning costs.

A 100-step pipeline (25 independent chains of 4 steps, each a DuckDB query over ~200,000
rows) runs once by the local worker of this process; then one step in its middle (the second
stage of chain 12) gets a new literal, and a run of that version executes that step and the
two below it, reusing the other 97. The figure is the second run's wall time (created →
ended) as a ratio to the first's; target ≤ 0.15. Each repeat uses datasets of its own, so
nothing of one repeat is reused by the next.

Then planning (``services/runs.py:plan``) a 10,000-step pipeline
(``bench.argo_manifest.realistic_steps``), against the same plan with ``use_cache`` false
(no fingerprint, no lookup) as the baseline: the ratio is what deciding reuse costs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import argo_manifest
from bench.stats import Figure, Target

CHAINS = 25
CHANGED_CHAIN = 12


def _steps(prefix: str, changed: bool = False) -> list[Any]:
    from headrace.domain.pipeline import DataTransform, Step

    steps = []
    for c in range(CHAINS):
        src, cut, agg, top = (f"{prefix}{stage}_{c:02d}" for stage in ("src", "cut", "agg", "top"))
        skip = 1 if changed and c == CHANGED_CHAIN else 0
        queries = [
            (src, f"SELECT range AS n, range % 97 AS k FROM range({200_000 + c})", []),
            (cut, f"SELECT k, n * 2 AS m FROM {src} WHERE n % 3 <> {skip}", [src]),
            (agg, f"SELECT k, sum(m) AS total, count(*) AS c FROM {cut} GROUP BY k", [cut]),
            (top, f"SELECT max(total) AS top, sum(c) AS rows FROM {agg}", [agg]),
        ]
        for name, query, inputs in queries:
            steps.append(Step(name, DataTransform(query, tuple(inputs), (name,))))
    return steps


def _run_seconds(rt: Any, who: Any, pipeline_id: Any) -> tuple[float, dict[str, int]]:
    """Wall seconds from creating a run to its end, and how its steps ended."""
    from headrace.services import runs
    from headrace.services.executors import open_worker

    started = time.perf_counter()
    view = runs.create(rt.db, rt.settings, who, pipeline_id, start=None, end=None, version_id=None)
    worker = open_worker(rt)
    claimed = worker.claim(only=view.run.id)
    assert claimed is not None
    outcome = worker.execute(claimed)
    took = time.perf_counter() - started
    if outcome.value != "Succeeded":
        raise RuntimeError(f"the bench run ended {outcome.value}")
    ended = runs.get(rt.db, who, pipeline_id, view.run.id).run.steps
    statuses: dict[str, int] = {}
    for step in ended:
        statuses[step.status] = statuses.get(step.status, 0) + 1
    return took, statuses


def _second_run(quick: bool) -> list[dict[str, Any]]:
    from headrace.cli.context import open_runtime
    from headrace.services import keys, pipelines
    from headrace.settings import Settings

    first: list[float] = []
    second: list[float] = []
    with tempfile.TemporaryDirectory(prefix="headrace-bench-reuse-") as tmp:
        settings = Settings(data_dir=Path(tmp), run_worker=False)
        with open_runtime(settings, migrate=True, worker=True) as rt:
            who = keys.local_principal(rt.db)
            for i in range(1 if quick else 3):
                prefix = f"r{i}_"
                view = pipelines.create(rt.db, who, f"reuse-{i}", "", _steps(prefix))
                took, ran = _run_seconds(rt, who, view.pipeline.id)
                assert ran == {"Succeeded": CHAINS * 4}, ran
                first.append(took)
                pipelines.add_version(rt.db, who, view.pipeline.id, _steps(prefix, changed=True))
                took, ran = _run_seconds(rt, who, view.pipeline.id)
                assert ran == {"Succeeded": 3, "Skipped": CHAINS * 4 - 3}, ran
                second.append(took)
    base = Figure("100 steps, first run (every step runs)", first)
    again = Figure(
        "the same after one middle step changed (3 run, 97 reused)",
        second,
        target=Target("ratio", 0.15),
    )
    return [base.as_dict(None), again.as_dict(base)]


def _plans(quick: bool) -> list[dict[str, Any]]:
    from headrace.cli.context import open_database
    from headrace.services import keys, pipelines, runs
    from headrace.settings import Settings

    count = 1_000 if quick else 10_000
    with tempfile.TemporaryDirectory(prefix="headrace-bench-plan-") as tmp:
        settings = Settings(data_dir=Path(tmp), run_worker=False)
        db = open_database(settings, migrate=True)
        who = keys.local_principal(db)
        view = pipelines.create(db, who, "planned", "", argo_manifest.realistic_steps(count))
        samples: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(2 if quick else 5):
            for use_cache in (False, True):  # interleaved: the machine's load moves both alike
                started = time.perf_counter()
                runs.plan(
                    db,
                    settings,
                    who,
                    view.pipeline.id,
                    start=None,
                    end=None,
                    version_id=None,
                    use_cache=use_cache,
                )
                samples[use_cache].append(time.perf_counter() - started)
        db.dispose()
    base = Figure(f"plan of {count:,} steps, use_cache false", samples[False])
    cached = Figure(f"plan of {count:,} steps (fingerprints, reuse lookups)", samples[True])
    return [base.as_dict(None), cached.as_dict(base)]


def measure(quick: bool) -> dict[str, Any]:
    return {
        "title": "reuse: a second run after one step changed, and planning (issue 17)",
        "figures": _second_run(quick) + _plans(quick),
    }
