"""Issue 16: schema-aware saving of pipelines of 100, 1,000 and 10,000 steps.

Creating a pipeline through the services with the ``SaveBinder`` (every step's SQL bound by
DuckDB against the columns of its inputs, in dependency order) is timed against creating
the same pipeline without it, in the same process and run: the ratio is what binding costs
on top of validation and storage. Each size's time per step with binding is also shown as a
ratio to the 100-step pipeline's: the curve must stay linear.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench import argo_manifest
from bench.stats import Figure, Target

SIZES = (100, 1_000, 10_000)


def _create(folder: Path, count: int, repeat: int) -> dict[str, list[float]]:
    """Wall seconds to create the ``count``-step pipeline with and without binding."""
    from headrace.cli.context import open_runtime
    from headrace.services import keys, pipelines
    from headrace.services.binding import SaveBinder
    from headrace.settings import Settings

    steps = argo_manifest.realistic_steps(count)
    settings = Settings(data_dir=folder / f"s{count}", run_worker=False)
    samples: dict[str, list[float]] = {"without binding": [], "with binding": []}
    with open_runtime(settings, migrate=True, worker=False) as rt:
        who = keys.local_principal(rt.db)
        binder = SaveBinder(rt)
        pipelines.create(rt.db, who, "warm-up", "", steps[:4], (), binder)  # imports
        for i in range(repeat):
            for label, used in (("without binding", None), ("with binding", binder)):
                started = time.perf_counter()
                pipelines.create(rt.db, who, f"p{count}-{i}-{used is None}", "", steps, (), used)
                samples[label].append(time.perf_counter() - started)
    return samples


def measure(quick: bool) -> dict[str, Any]:
    repeat = 1 if quick else 3
    sizes = SIZES[:2] if quick else SIZES
    figures: list[dict[str, Any]] = []
    first: Figure | None = None
    with tempfile.TemporaryDirectory(prefix="headrace-bench-saving-") as tmp:
        for count in sizes:
            samples = _create(Path(tmp), count, repeat)
            plain = Figure(f"{count:,} steps: create, without binding", samples["without binding"])
            bound = Figure(f"{count:,} steps: create, with binding", samples["with binding"])
            figures.append(plain.as_dict(None))
            figures.append(bound.as_dict(plain))
            each = Figure(
                f"{count:,} steps: create with binding, per step",
                [s / count * 1e6 for s in samples["with binding"]],
                "us",
                Target("ratio", 2.0) if count > sizes[0] else None,
            )
            first = first or each
            figures.append(each.as_dict(None if first is each else first))
    return {
        "title": "issue 16: schema-aware saving, 100 / 1,000 / 10,000 steps",
        "figures": figures,
    }
