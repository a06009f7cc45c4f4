"""Two runs writing the same dataset at once both commit, one version each."""

from __future__ import annotations

import threading
import uuid
from typing import Any

from headrace.execution.step import StepRunner
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.services.executors import open_worker
from headrace.services.worker import Worker
from headrace.settings import Settings
from tests.execution.support import (
    dataset_rows,
    delta_version,
    get_run,
    recorded_versions,
    steps,
    table_path,
)
from tests.factories import Api, make_pipeline, make_run, make_step


def _writer(api: Api, tag: str, rows: int) -> dict[str, Any]:
    query = f"SELECT range AS n, '{tag}' AS writer FROM range({rows})"
    return make_pipeline(api, [make_step("write", query, [], ["shared"])])


def _rows(tag: str, count: int) -> list[tuple[Any, ...]]:
    return sorted(((n, tag) for n in range(count)), key=repr)


def _claimed(runtime: Runtime, api: Api, pipeline: dict[str, Any]) -> Any:
    run = make_run(api, pipeline["id"])
    worker = open_worker(runtime)
    assert worker.claim(only=uuid.UUID(run["id"])) is not None
    return worker, run


def _check_versions(
    api: Api, db: Database, settings: Settings, runs: dict[str, tuple[Any, int]]
) -> set[int]:
    """Each run Succeeded and its recorded version holds exactly its own complete rows."""
    seen = set()
    for tag, (run, rows) in runs.items():
        ended = get_run(api, run["pipeline_id"], run["id"])
        assert ended["status"] == "Succeeded", ended
        version = steps(ended)["write"]["output_versions"]["shared"]
        assert dataset_rows(db, settings, api.org_id, "shared", version) == _rows(tag, rows), tag
        seen.add(version)
    return seen


def test_two_runs_writing_one_dataset_at_once_commit_one_version_each(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    sizes = {"left": 3000, "right": 2000}
    pipelines = {tag: _writer(api, tag, n) for tag, n in sizes.items()}
    claimed = {tag: _claimed(runtime, api, p) for tag, p in pipelines.items()}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def go(worker: Worker, run_id: str) -> None:
        barrier.wait()
        try:
            worker.execute(uuid.UUID(run_id))
        except BaseException as err:
            errors.append(err)

    threads = [
        threading.Thread(target=go, args=(w, r["id"]), daemon=True) for w, r in claimed.values()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    runs = {tag: (claimed[tag][1], sizes[tag]) for tag in sizes}
    assert _check_versions(api, db, settings, runs) == {0, 1}
    assert recorded_versions(db, api.org_id, "shared") == [0, 1]
    assert delta_version(table_path(db, settings, api.org_id, "shared")) == 1


def test_a_writer_overtaken_between_its_write_and_its_commit_lands_after_the_other(
    runtime: Runtime, api: Api, db: Database, settings: Settings
) -> None:
    """Forces the race: the first run has written its files and opened its base snapshot but
    waits to commit until the second run has committed. Once on a new dataset (both see no
    table), once on an existing one (the first commit conflicts and is retried)."""
    for round_, sizes in enumerate(({"slow": 300, "fast": 200}, {"slow": 30, "fast": 20})):
        tags = {tag: f"{tag}{round_}" for tag in sizes}
        pipelines = {tag: _writer(api, tags[tag], n) for tag, n in sizes.items()}
        (slow_worker, slow_run), (fast_worker, fast_run) = (
            _claimed(runtime, api, pipelines["slow"]),
            _claimed(runtime, api, pipelines["fast"]),
        )
        ready, go = threading.Event(), threading.Event()

        def held_commit(
            table: str,
            copy: list[tuple[Any, ...]],
            base: Any,
            ready: threading.Event = ready,
            go: threading.Event = go,
        ) -> Any:
            ready.set()
            assert go.wait(30)
            return StepRunner._commit(table, copy, base)

        slow_worker.executor.runner._commit = held_commit  # type: ignore[attr-defined]
        errors: list[BaseException] = []

        def slow(
            worker: Worker = slow_worker,
            run_id: str = slow_run["id"],
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                worker.execute(uuid.UUID(run_id))
            except BaseException as err:
                errors.append(err)

        thread = threading.Thread(target=slow, daemon=True)
        thread.start()
        assert ready.wait(30)
        fast_worker.execute(uuid.UUID(fast_run["id"]))
        go.set()
        thread.join(timeout=60)
        assert not errors, errors
        runs = {tags["slow"]: (slow_run, sizes["slow"]), tags["fast"]: (fast_run, sizes["fast"])}
        first = 2 * round_
        assert _check_versions(api, db, settings, runs) == {first, first + 1}
        fast_version = steps(get_run(api, fast_run["pipeline_id"], fast_run["id"]))["write"]
        assert fast_version["output_versions"] == {"shared": first}
        assert recorded_versions(db, api.org_id, "shared") == list(range(first + 2))
        # the newest version (the overtaken writer's) is the current one
        assert dataset_rows(db, settings, api.org_id, "shared") == _rows(
            tags["slow"], sizes["slow"]
        )
