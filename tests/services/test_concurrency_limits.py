"""A pipeline's max_active_runs: queued runs wait with a reason, skipped runs end Cancelled,
and claims never pass the limit, even racing each other."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from headrace.domain.records import RunRecord
from headrace.domain.runs import RunStatus, StepStatus
from headrace.runtime import Runtime
from headrace.services.lifecycle import Lifecycle
from tests.execution.support import get_run
from tests.factories import Api, make_pipeline, make_run, move_run_to


def _limited(api: Api, **limits: Any) -> dict[str, Any]:
    pipeline = make_pipeline(api)
    r = api.patch(f"/pipelines/{pipeline['id']}/", json=limits)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _claim(runtime: Runtime, run_id: str) -> RunRecord | None:
    return Lifecycle(runtime.db).claim(
        "test-worker", 30, skip_locked=not runtime.db.is_sqlite, only=uuid.UUID(run_id)
    )


def test_bad_limits_are_listed_together(api: Api) -> None:
    pipeline = make_pipeline(api)
    r = api.patch(f"/pipelines/{pipeline['id']}/", json={"max_active_runs": 0, "on_limit": "drop"})
    assert r.status_code == 422, r.text
    assert {e["type"] for e in r.json()["errors"]} == {
        "pipeline.bad_limit",
        "pipeline.bad_on_limit",
    }


def test_a_queued_run_waits_with_its_reason_until_the_active_one_ends(
    api: Api, runtime: Runtime
) -> None:
    pipeline = _limited(api, max_active_runs=1)
    assert (pipeline["max_active_runs"], pipeline["on_limit"]) == (1, "queue")
    first = make_run(api, pipeline["id"])
    second = make_run(api, pipeline["id"])
    assert first["waiting_reason"] is None
    reason = "pipeline already has 1 active run (max_active_runs 1)"
    assert (second["status"], second["waiting_reason"]) == ("Pending", reason)
    assert _claim(runtime, first["id"]) is not None
    assert _claim(runtime, second["id"]) is None  # held back: one run is Running
    listed = api.get(f"/pipelines/{pipeline['id']}/runs/").json()
    assert [r["waiting_reason"] for r in listed] == [reason, None]
    move_run_to(runtime.db, first["id"], RunStatus.SUCCEEDED, {"gen": StepStatus.SUCCEEDED})
    claimed = _claim(runtime, second["id"])
    assert claimed is not None and claimed.waiting_reason is None
    assert get_run(api, pipeline["id"], second["id"])["waiting_reason"] is None
    # lifting the limit lets every run go
    r = api.patch(f"/pipelines/{pipeline['id']}/", json={"max_active_runs": None})
    assert r.json()["max_active_runs"] is None
    third = make_run(api, pipeline["id"])
    assert third["waiting_reason"] is None and _claim(runtime, third["id"]) is not None


def test_a_skipped_run_ends_cancelled_with_the_reason(api: Api) -> None:
    pipeline = _limited(api, max_active_runs=1, on_limit="skip")
    make_run(api, pipeline["id"])
    skipped = make_run(api, pipeline["id"])
    assert skipped["status"] == "Cancelled"
    assert skipped["waiting_reason"] is None
    assert skipped["argo_metadata"]["message"] == (
        "skipped: pipeline already has 1 active run (max_active_runs 1)"
    )


def test_a_retry_past_the_limit_is_held_back_like_a_new_run(api: Api, runtime: Runtime) -> None:
    pipeline = _limited(api, max_active_runs=1)
    failed = make_run(api, pipeline["id"])
    move_run_to(runtime.db, failed["id"], RunStatus.FAILED, {"gen": StepStatus.FAILED})
    make_run(api, pipeline["id"])  # the one active run
    r = api.post(f"/pipelines/{pipeline['id']}/runs/{failed['id']}/retry/")
    assert r.status_code == 201, r.text
    assert r.json()["waiting_reason"] == "pipeline already has 1 active run (max_active_runs 1)"


def test_racing_claims_never_pass_the_limit(api: Api, runtime: Runtime) -> None:
    pipeline = make_pipeline(api)
    made = [make_run(api, pipeline["id"])["id"] for _ in range(4)]
    api.patch(f"/pipelines/{pipeline['id']}/", json={"max_active_runs": 1})
    barrier = threading.Barrier(len(made))
    claimed: list[RunRecord | None] = []

    def claim(run_id: str) -> None:
        barrier.wait()
        claimed.append(_claim(runtime, run_id))

    threads = [threading.Thread(target=claim, args=(r,)) for r in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([c for c in claimed if c is not None]) == 1
