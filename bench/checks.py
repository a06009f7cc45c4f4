"""Issue 16: what a step's checks cost, as a share of the step.

One step writes 10 M generated rows (1 M with ``--quick``) through the local worker, never
reused, in the same process and run, once without checks and once with five (not_null and
unique on the key, accepted_values on a text column, row_count, an expression): the ratio of
the run with checks to the run without is the checks' cost, run in the step's process on the
written Parquet file before the commit.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats import Figure

QUERY = (
    "SELECT range AS id, range % 1000 AS grp, (range % 7)::DOUBLE AS amount, "
    "'t' || (range % 5)::VARCHAR AS tag FROM range({rows})"
)
CHECKS: list[dict[str, Any]] = [
    {"type": "not_null", "column": "id"},
    {"type": "unique", "column": "id"},
    {"type": "accepted_values", "column": "tag", "values": ["t0", "t1", "t2", "t3", "t4"]},
    {"type": "row_count", "min": 1},
    {"type": "expression", "expression": "amount >= 0"},
]


def _runs(folder: Path, rows: int, repeat: int) -> dict[str, list[float]]:
    from headrace.cli.context import open_runtime
    from headrace.domain.checks import check_from_dict
    from headrace.domain.pipeline import DataTransform, Step
    from headrace.services import keys, pipelines, runs
    from headrace.services.executors import open_worker
    from headrace.services.pipelines import PipelineView
    from headrace.settings import Settings

    settings = Settings(data_dir=folder, run_worker=False)
    samples: dict[str, list[float]] = {"without checks": [], "with checks": []}
    with open_runtime(settings, migrate=True, worker=True) as rt:
        who = keys.local_principal(rt.db)
        made: dict[str, PipelineView] = {}
        plans: list[tuple[str, list[dict[str, Any]]]] = [
            ("without checks", []),
            ("with checks", CHECKS),
        ]
        for label, checks in plans:
            config = DataTransform(
                QUERY.format(rows=rows),
                (),
                (f"out_{len(made)}",),
                checks=tuple(check_from_dict(c) for c in checks),
                cache=False,  # each repeat computes the step again
            )
            made[label] = pipelines.create(rt.db, who, label, "", [Step("gen", config)])
        worker = open_worker(rt)
        for _ in range(repeat):
            for label, view in made.items():
                run = runs.create(
                    rt.db, settings, who, view.pipeline.id, start=None, end=None, version_id=None
                )
                assert worker.claim(only=run.run.id) == run.run.id
                started = time.perf_counter()
                outcome = worker.execute(run.run.id)
                samples[label].append(time.perf_counter() - started)
                if outcome.value != "Succeeded":
                    raise RuntimeError(f"the run {label} ended {outcome.value}")
    return samples


def measure(quick: bool) -> dict[str, Any]:
    rows = 1_000_000 if quick else 10_000_000
    with tempfile.TemporaryDirectory(prefix="headrace-bench-checks-") as tmp:
        samples = _runs(Path(tmp), rows, 1 if quick else 3)
    plain = Figure(f"step of {rows:,} rows, without checks", samples["without checks"])
    checked = Figure(f"step of {rows:,} rows, with 5 checks", samples["with checks"])
    return {
        "title": "issue 16: checks' cost on a large step",
        "figures": [plain.as_dict(None), checked.as_dict(plain)],
    }
