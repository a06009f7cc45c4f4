"""The runs' JSON (api/run_json.py) is byte for byte what FastAPI serialises from ``RunRead``
models: one run, and the listing's spliced pages, for runs in every state, kept or not; runs
in progress stay fresh."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update

from headrace.domain.runs import RunStatus, StepStatus
from headrace.execution.status import local_metadata
from headrace.persistence.db import Database
from headrace.persistence.repositories import runs as runs_repo
from headrace.persistence.tables import run_steps, runs
from headrace.schemas.runs import RunRead
from tests.factories import Api, diamond_steps, make_pipeline, make_run, move_run_to

OUTPUT = {"src": "base", "left": "evens", "right": "odds", "join": "all_numbers"}
T0 = dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)


def _set(db: Database, run_id: str, run: RunStatus | None, steps: dict[str, StepStatus]) -> None:
    """Put a run and its steps in the given states, as a worker would have left them, with
    fixed times and figures (so the JSON is the same on every run of the test)."""
    rid = uuid.UUID(run_id)
    move_run_to(db, rid, run, steps)
    with db.unit_of_work() as conn:
        for i, (name, state) in enumerate(steps.items()):
            ran = state not in (StepStatus.PENDING, StepStatus.OMITTED, StepStatus.CANCELLED)
            conn.execute(
                update(run_steps)
                .where(run_steps.c.run_id == rid, run_steps.c.name == name)
                .values(
                    started_at=T0 + dt.timedelta(seconds=i) if ran else None,
                    finished_at=T0 + dt.timedelta(seconds=i + 1) if state.terminal else None,
                    rows_written=12 if state is StepStatus.SUCCEEDED else None,
                    bytes_written=3456 if state is StepStatus.SUCCEEDED else None,
                    output_versions={OUTPUT[name]: 3} if state is StepStatus.SUCCEEDED else {},
                    error='Binder Error: "n" ambigu — ü\nline 2'
                    if state is StepStatus.FAILED
                    else None,
                )
            )
        if run is not None:
            conn.execute(
                update(runs)
                .where(runs.c.id == rid)
                .values(
                    started_at=T0,
                    finished_at=T0 + dt.timedelta(seconds=30) if run.terminal else None,
                )
            )
        record = runs_repo.get_by_id(conn, rid)
        assert record is not None
        runs_repo.set_metadata(conn, rid, local_metadata(record))


def _runs_in_every_state(api: Api, db: Database) -> str:
    """A pipeline with a run in each state (and partial and retried runs); its id."""
    p = make_pipeline(api, diamond_steps(), name=f"Prüfung {uuid.uuid4().hex[:6]}")
    pid = p["id"]
    S = StepStatus
    make_run(api, pid)  # Pending
    partial = make_run(api, pid, end_job_name="left")  # Pending, partial
    _set(db, partial["id"], RunStatus.SUCCEEDED, {"src": S.SUCCEEDED, "left": S.SUCCEEDED})
    running = make_run(api, pid)
    _set(db, running["id"], RunStatus.RUNNING, {"src": S.SUCCEEDED, "left": S.RUNNING})
    succeeded = make_run(api, pid)
    _set(
        db,
        succeeded["id"],
        RunStatus.SUCCEEDED,
        dict.fromkeys(["src", "left", "right", "join"], S.SUCCEEDED),
    )
    failed = make_run(api, pid)
    _set(
        db,
        failed["id"],
        RunStatus.FAILED,
        {"src": S.SUCCEEDED, "left": S.FAILED, "right": S.SUCCEEDED, "join": S.OMITTED},
    )
    errored = make_run(api, pid)
    _set(db, errored["id"], RunStatus.ERROR, {"src": S.ERROR, "left": S.OMITTED})
    cancelled = make_run(api, pid)
    assert api.post(f"/pipelines/{pid}/runs/{cancelled['id']}/cancel/").status_code == 200
    assert api.post(f"/pipelines/{pid}/runs/{failed['id']}/retry/").status_code == 201
    return str(pid)


def _parse(body: bytes) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(body)
    return found


def _one_by_one(api: Api, pid: str, page: bytes) -> bytes:
    """The page as each run is served alone (GET of one run), spliced the way FastAPI
    serialises a list."""
    ids = [r["id"] for r in _parse(page)]
    singles = [api.get(f"/pipelines/{pid}/runs/{i}/").content for i in ids]
    return b"[" + b",".join(singles) + b"]"


def test_one_run_is_what_fastapi_makes_of_its_model(api: Api, db: Database) -> None:
    """A run served alone is the bytes FastAPI itself makes of its ``RunRead`` as a
    ``response_model``: a route of FastAPI's echoing the run's model answers the same."""
    pid = _runs_in_every_state(api, db)
    reference = FastAPI()

    @reference.post("/echo", response_model=RunRead)
    def echo(run: RunRead) -> RunRead:
        return run

    with TestClient(reference) as fastapi:
        for run in _parse(api.get(f"/pipelines/{pid}/runs/").content):
            ours = api.get(f"/pipelines/{pid}/runs/{run['id']}/").content
            theirs = fastapi.post(
                "/echo", content=ours, headers={"content-type": "application/json"}
            )
            assert theirs.status_code == 200
            assert ours == theirs.content


def test_listing_is_byte_identical_to_the_models_kept_or_not(api: Api, db: Database) -> None:
    pid = _runs_in_every_state(api, db)
    first = api.get(f"/pipelines/{pid}/runs/")  # nothing kept yet: every run serialised
    second = api.get(f"/pipelines/{pid}/runs/")  # ended runs spliced from what was kept
    assert first.status_code == second.status_code == 200
    assert second.headers["content-type"] == "application/json"
    statuses = {r["status"] for r in _parse(first.content)}
    assert statuses == {"Pending", "Running", "Succeeded", "Failed", "Error", "Cancelled"}
    assert first.content == second.content == _one_by_one(api, pid, first.content)
    assert int(second.headers["content-length"]) == len(second.content)


def test_pages_and_filters_splice_the_same_bytes(api: Api, db: Database) -> None:
    pid = _runs_in_every_state(api, db)
    whole = _parse(api.get(f"/pipelines/{pid}/runs/").content)
    url: str | None = f"/pipelines/{pid}/runs/?limit=3"
    seen = []
    while url:
        r = api.get(url)
        assert r.content == _one_by_one(api, pid, r.content)
        seen += _parse(r.content)
        url = r.links.get("next", {}).get("url")
    assert seen == whole
    ended = api.get(f"/pipelines/{pid}/runs/", params={"status": ["Succeeded", "Failed"]})
    assert ended.content == _one_by_one(api, pid, ended.content)
    assert len(_parse(ended.content)) == 3  # the whole and the partial run, the failed one


def test_runs_in_progress_are_always_fresh(api: Api, db: Database) -> None:
    p = make_pipeline(api, diamond_steps())
    run = make_run(api, p["id"])
    listing = f"/pipelines/{p['id']}/runs/"
    S = StepStatus
    assert _parse(api.get(listing).content)[0]["status"] == "Pending"
    _set(db, run["id"], RunStatus.RUNNING, {"src": S.RUNNING})
    assert _parse(api.get(listing).content)[0]["run_steps"][0]["status"] == "Running"
    steps = dict.fromkeys(["src", "left", "right", "join"], S.SUCCEEDED)
    _set(db, run["id"], RunStatus.SUCCEEDED, steps)
    ended = api.get(listing).content
    assert _parse(ended)[0]["status"] == "Succeeded"
    assert ended == api.get(listing).content == _one_by_one(api, p["id"], ended)
