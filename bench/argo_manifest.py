"""Size and render time of Argo manifests for pipelines of 100, 1,000 and 10,000 steps.

The pipelines look like real ones: per source table a chain ``load_orders_0042`` →
``clean_orders_0042`` → ``enrich_orders_0042`` → ``report_orders_0042``, and every fiftieth
report also reads the previous report (a cross-chain join). The figure is the bytes of the
manifest as compact JSON, what etcd and the size limit in settings count, and the
milliseconds of ``compile_plan`` + ``render_manifest`` + ``json.dumps`` (what creating a run
adds for the manifest).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from bench.stats import Figure
from headrace.domain.pipeline import DataTransform, Step
from headrace.execution.argo.manifest import ManifestSettings, RunIdentity, render_manifest
from headrace.execution.plan import compile_plan

SIZES = (100, 1_000, 10_000)
STAGES = ("load", "clean", "enrich", "report")
SOURCES = ("orders", "customers", "payments", "shipments", "invoices")


def realistic_steps(count: int) -> list[Step]:
    """``count`` steps in four-stage chains, one chain per source table."""
    steps: list[Step] = []
    previous_report: str | None = None
    chain = 0
    while len(steps) < count:
        source = f"{SOURCES[chain % len(SOURCES)]}_{chain:04d}"
        upstream: str | None = None
        for stage in STAGES:
            if len(steps) == count:
                break
            name = f"{stage}_{source}"
            inputs = [f"{upstream}_out"] if upstream else []
            if stage == "report" and previous_report and chain % 50 == 0:
                inputs.append(f"{previous_report}_out")
            query = f"SELECT * FROM {inputs[0]}" if inputs else "SELECT 1 AS n"
            steps.append(Step(name, DataTransform(query, tuple(inputs), (f"{name}_out",))))
            upstream = name
            if stage == "report":
                previous_report = name
        chain += 1
    return steps


def _identity() -> RunIdentity:
    return RunIdentity(
        workflow_name=f"bench-pipeline-{uuid.uuid4().hex[:12]}",
        run_id=str(uuid.uuid4()),
        org_id=str(uuid.uuid4()),
        pipeline_id=str(uuid.uuid4()),
        version_id=str(uuid.uuid4()),
    )


def _render(steps: list[Step], cfg: ManifestSettings) -> bytes:
    plan = compile_plan(steps, [s.name for s in steps])
    manifest = render_manifest(plan, _identity(), cfg)
    return json.dumps(manifest, separators=(",", ":")).encode()


def measure(repeat: int = 5) -> dict[str, Any]:
    """Bytes and render milliseconds (median/min/max over ``repeat`` runs) at each size."""
    from headrace.services.runs import manifest_settings
    from headrace.settings import Settings

    cfg = manifest_settings(Settings())
    figures: list[dict[str, Any]] = []
    for count in SIZES:
        steps = realistic_steps(count)
        _render(steps, cfg)  # warm-up: first-call costs are not what a server pays per run
        sizes: list[float] = []
        millis: list[float] = []
        for _ in range(repeat):
            start = time.perf_counter()
            body = _render(steps, cfg)
            millis.append((time.perf_counter() - start) * 1000)
            sizes.append(float(len(body)))
        figures.append(Figure(f"{count:,} steps: manifest", sizes, unit="bytes").as_dict(None))
        figures.append(Figure(f"{count:,} steps: render", millis, unit="ms").as_dict(None))
    return {"sizes": list(SIZES), "figures": figures}


if __name__ == "__main__":
    for figure in measure()["figures"]:
        print(
            f"{figure['name']}: median {figure['median']:.1f} {figure['unit']} "
            f"(min {figure['min']:.1f}, max {figure['max']:.1f}, {figure['runs']} runs)"
        )
