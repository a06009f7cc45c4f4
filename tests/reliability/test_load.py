"""Load over HTTP against PostgreSQL: many runs triggered at once for two ``headrace worker``
processes (the server's own worker off), and concurrent uploads to one dataset.

Executions are counted, not inferred: every step execution commits exactly one Delta version
of its output (a commit that lost a race is retried into one version) and logs "started" once,
so the Delta log of each output and the step logs hold one entry per execution."""

from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _postgres_database
from tests.execution.support import read_rows
from tests.factories import Api, generated_steps, make_pipeline, make_run
from tests.reliability.invariants import (
    check_datasets,
    datasets_by_name,
    log_versions,
    recorded_versions,
    table_of,
    wait_until_ended,
)
from tests.reliability.processes import Installation
from tests.stress import scaled

RUNS = scaled(12, 200)
UPLOADS = 50
WORKERS = 2


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[Installation]:
    for url in _postgres_database(f"headrace_load_{uuid.uuid4().hex[:12]}"):
        found = Installation(tmp_path, url, {"HEADRACE_RUN_WORKER": "false"})
        found.migrate()
        yield found
        found.stop_everything()


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def test_runs_triggered_at_once_each_step_executes_once(installation: Installation) -> None:
    server = installation.start_server()
    workers = [installation.start_worker() for _ in range(WORKERS)]
    key, org = installation.new_org()
    api = server.api(key, org)
    steps = generated_steps()
    pipeline = make_pipeline(api, steps)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        # use_cache false: every run computes every step (the load is the work)
        created = list(
            pool.map(lambda _: make_run(api, pipeline["id"], use_cache=False), range(RUNS))
        )
    runs = wait_until_ended(api, pipeline["id"], timeout=scaled(300, 1200))
    elapsed = time.perf_counter() - started
    assert all(w.poll() is None for w in workers), "a worker process died"

    assert {r["id"] for r in runs} == {r["id"] for r in created}
    assert Counter(r["status"] for r in runs) == {"Succeeded": RUNS}, Counter(
        r["status"] for r in runs
    )
    _check_each_step_ran_once(api, installation, runs, [s["name"] for s in steps])
    check_datasets(api, installation.warehouse)

    waits = [
        (min(_at(s["started_at"]) for s in r["run_steps"]) - _at(r["created_at"])).total_seconds()
        for r in runs
    ]
    span = max(_at(r["finished_at"]) for r in runs) - min(_at(r["created_at"]) for r in runs)
    print(
        f"\nload: {RUNS} runs x {len(steps)} steps, {WORKERS} worker processes, PostgreSQL: "
        f"all Succeeded in {elapsed:.1f} s; {RUNS / span.total_seconds() * 60:.0f} runs/min; "
        f"trigger -> first step started p50 {statistics.median(waits):.2f} s, "
        f"p99 {_percentile(waits, 0.99):.2f} s, max {max(waits):.2f} s"
    )


def _check_each_step_ran_once(
    api: Api, installation: Installation, runs: list[dict[str, Any]], names: list[str]
) -> None:
    """One Delta commit per run in every output, each recorded once with its run, and one
    "started" line in every step's log."""
    run_ids = sorted(r["id"] for r in runs)
    for step in runs[0]["run_steps"]:
        for dataset in step["output_versions"]:
            summary = datasets_by_name(api)[dataset]
            table = table_of(installation.warehouse, api, summary["id"])
            versions = recorded_versions(api, summary["id"])
            assert log_versions(table) == list(range(len(runs))), f"{dataset}: commits ≠ runs"
            assert sorted(v["version"] for v in versions) == list(range(len(runs)))
            assert sorted(v["run_id"] for v in versions) == run_ids, f"{dataset}: writers ≠ runs"
    for run in runs:
        base = f"/pipelines/{run['pipeline_version']['pipeline_id']}/runs/{run['id']}/steps"
        for step_name in names:
            r = api.get(f"{base}/{step_name}/logs/")
            assert r.status_code == 200, r.text
            starts = [line for line in r.text.splitlines() if line.endswith(" started")]
            assert len(starts) == 1, f"run {run['id']} step {step_name} started {len(starts)} times"


def test_concurrent_uploads_to_one_dataset_each_become_a_version(
    installation: Installation,
) -> None:
    server = installation.start_server()
    key, org = installation.new_org()
    api = server.api(key, org)

    def upload(i: int) -> int:
        content = "upload,row\n" + "".join(f"{i},{n}\n" for n in range(100))
        r = api.post(
            "/datasets/",
            data={"name": "contended"},
            files={"file": (f"u{i}.csv", content.encode(), "text/csv")},
        )
        return r.status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=UPLOADS) as pool:
        statuses = list(pool.map(upload, range(UPLOADS)))
    elapsed = time.perf_counter() - started
    print(f"\nuploads: {UPLOADS} at once to one dataset in {elapsed:.1f} s: {Counter(statuses)}")
    assert statuses == [201] * UPLOADS, Counter(statuses)
    summary = datasets_by_name(api)["contended"]
    table = table_of(installation.warehouse, api, summary["id"])
    versions = recorded_versions(api, summary["id"])
    assert sorted(v["version"] for v in versions) == list(range(UPLOADS))
    assert log_versions(table) == list(range(UPLOADS))
    # each version holds exactly one upload, whole; together they are every upload
    found: list[int] = []
    for version in range(UPLOADS):
        uploads = Counter(row[0] for row in read_rows(table, version, "upload"))
        assert list(uploads.values()) == [100], (version, uploads)
        found.extend(uploads)
    assert sorted(found) == list(range(UPLOADS))
    check_datasets(api, installation.warehouse)
