"""Hostile runs beside honest ones: the hostile steps end at their limits, every other run gets
its correct data, and the worker that ran the hostile steps goes on serving."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from typing import Any

import httpx

from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.services.executors import open_worker
from headrace.settings import Settings
from tests.execution.support import dataset_rows, get_run, runtime_with, steps, wait_for
from tests.execution.test_sandbox import ENTRIES, SAMPLE, assert_nothing_internal, short_limits
from tests.factories import Api, generated_steps, make_pipeline, make_run, make_step
from tests.live import serve
from tests.memory import peak_rss_kib, server_pid
from tests.stress import STRESS

# Every resource-exhausting query of hostile_sql.yaml in the stress form, a sample bounded.
EXHAUSTING = [e for e in ENTRIES if "limit" in e and (STRESS or e["id"] in SAMPLE)]
HONEST_TOTAL = [(90,)]  # generated_steps(): sum of 2n for n < 10


def _hostile_steps() -> list[dict[str, Any]]:
    return [make_step(e["id"], e["query"], [], [f"{e['id']}_out"]) for e in EXHAUSTING]


def _check_hostile(run: dict[str, Any], *hidden: str) -> None:
    """Each hostile step Failed with its message; ``hidden`` (server paths) shown nowhere."""
    assert run["status"] == "Failed", run
    assert_nothing_internal(json.dumps(run), *hidden)
    by_name = steps(run)
    for entry in EXHAUSTING:
        step = by_name[entry["id"]]
        assert step["status"] == "Failed", step
        assert re.search(entry["message"], step["error"]), (entry["id"], step["error"])


def test_a_hostile_run_and_an_honest_run_at_once(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    limited = short_limits(settings)
    hostile = make_pipeline(api, _hostile_steps())
    honest = make_pipeline(api, generated_steps())
    runs = {"hostile": make_run(api, hostile["id"]), "honest": make_run(api, honest["id"])}
    with runtime_with(runtime, limited) as on_limits:
        workers = {tag: open_worker(on_limits) for tag in runs}
        for tag, run in runs.items():
            assert workers[tag].claim(only=uuid.UUID(run["id"])) is not None
        threads = [
            threading.Thread(target=workers[tag].execute, args=(uuid.UUID(run["id"]),))
            for tag, run in runs.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
            assert not thread.is_alive()
        ended = {tag: get_run(api, r["pipeline_id"], r["id"]) for tag, r in runs.items()}
        assert ended["honest"]["status"] == "Succeeded", ended["honest"]
        assert dataset_rows(db, settings, api.org_id, "total") == HONEST_TOTAL
        _check_hostile(ended["hostile"], settings.effective_warehouse)
        # the worker that ran the hostile steps runs the next run as if nothing had happened
        again = make_run(api, honest["id"])
        worker = workers["hostile"]
        assert worker.claim(only=uuid.UUID(again["id"])) is not None
        worker.execute(uuid.UUID(again["id"]))
        assert get_run(api, honest["id"], again["id"])["status"] == "Succeeded"


def test_a_live_server_serves_through_hostile_runs(tmp_path: Any) -> None:
    """`headrace serve` with its in-process worker: while hostile steps run it answers, then
    runs the honest pipeline; its peak memory stays near the steps' memory limits."""
    env = {
        "HEADRACE_STEP_TIMEOUT_SECONDS": "2",
        "HEADRACE_STEP_MEMORY_LIMIT": "128MB",
        "HEADRACE_STEP_THREADS": "1",
        "HEADRACE_MAX_PARALLEL_STEPS": "4",
    }
    with serve(tmp_path / "srv", **env) as served:
        client = httpx.Client(
            base_url=served.url,
            headers={"Authorization": f"Bearer {served.new_org_key()}"},
            timeout=60,
        )

        def start(steps_: list[dict[str, Any]]) -> dict[str, Any]:
            r = client.post("/pipelines/", json={"name": uuid.uuid4().hex[:8], "steps": steps_})
            assert r.status_code == 201, r.text
            run = client.post(f"/pipelines/{r.json()['id']}/runs/", json={})
            assert run.status_code == 201, run.text
            result: dict[str, Any] = run.json()
            return result

        def ended(run: dict[str, Any]) -> dict[str, Any]:
            r = client.get(f"/pipelines/{run['pipeline_id']}/runs/{run['id']}/")
            assert r.status_code == 200, r.text
            result: dict[str, Any] = r.json()
            return result

        started = time.perf_counter()
        hostile = start(_hostile_steps())
        honest = start(generated_steps())
        answered = 0
        while ended(honest)["finished_at"] is None:
            assert client.get("/healthz").status_code == 200
            answered += 1
            time.sleep(0.2)
        wait_for(lambda: ended(hostile)["finished_at"] is not None, timeout=120, what="hostile")
        elapsed = time.perf_counter() - started
        _check_hostile(ended(hostile), str(served.data_dir.resolve()))
        assert ended(honest)["status"] == "Succeeded", ended(honest)
        [total] = [d for d in client.get("/datasets/").json() if d["name"] == "total"]
        assert client.get(f"/datasets/{total['id']}/rows/").json() == [{"total": 90}]
        peak = peak_rss_kib(server_pid(served.url)) // 1024
        print(
            f"\nhostile run ({len(EXHAUSTING)} steps, 4 at a time, 128MB/2 s each) and an "
            f"honest run through one live server: {elapsed:.1f} s, /healthz answered "
            f"{answered} times meanwhile, server VmHWM {peak} MiB"
        )
        # four steps at once under 128MB each, plus the server itself
        assert peak < 1536, peak
        for log in served.data_dir.glob("*.log"):
            assert_nothing_internal(log.read_text(), str(served.data_dir.resolve()))
