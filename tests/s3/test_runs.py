"""Runs with the warehouse in S3 (moto): the local executor writes step outputs there, pods
(``headrace step exec`` processes, each with its own empty mirror, so inputs are downloaded)
write the same data, and two writers committing to one table at once both land."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

from headrace.domain.records import RunRecord
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.services.executors import open_worker
from headrace.settings import Settings
from headrace.storage import delta
from headrace.storage.duck import ServiceDuck
from headrace.storage.ingest import write_version
from headrace.storage.warehouse import Warehouse
from tests.execution.argo.as_argo import load_run, pods_match_the_local_executor, written_rows
from tests.execution.support import runtime_with
from tests.factories import Api, generated_steps, make_pipeline, make_run
from tests.storage.test_delta import read


def run_generated(api: Api, runtime: Runtime) -> RunRecord:
    """A run of the generated three-step pipeline, executed by a local worker of ``runtime``;
    it must succeed."""
    db = runtime.db
    pipeline = make_pipeline(api, generated_steps())
    run_id = uuid.UUID(make_run(api, pipeline["id"])["id"])
    worker = open_worker(runtime)
    assert worker.claim(only=run_id) == run_id
    worker.execute(run_id)
    run = load_run(db, run_id)
    assert run.status == "Succeeded", [s.error for s in run.steps]
    return run


def test_a_local_run_writes_its_outputs_to_the_bucket(
    s3_api: Api, db: Database, s3_settings: Settings, runtime: Runtime
) -> None:
    with runtime_with(runtime, s3_settings) as on_s3:
        run = run_generated(s3_api, on_s3)
    rows = written_rows(s3_settings, run, db)  # read by deltalake from the bucket
    assert rows["numbers"] == [{"n": n} for n in range(10)]
    assert rows["total"] == [{"total": 90}]


def test_pods_on_an_s3_warehouse_match_the_local_executor(
    s3_api: Api,
    runtime: Runtime,
    s3_settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    secret = s3_settings.s3_secret_access_key
    assert secret is not None and s3_settings.s3_endpoint_url is not None

    def pod_env(node: str) -> dict[str, str]:
        return {
            "HEADRACE_DATABASE_URL": database_url,
            "HEADRACE_WAREHOUSE": s3_settings.effective_warehouse,
            "HEADRACE_DATA_DIR": str(tmp_path / "data"),
            "HEADRACE_S3_ENDPOINT_URL": s3_settings.s3_endpoint_url or "",
            "HEADRACE_S3_ACCESS_KEY_ID": s3_settings.s3_access_key_id or "",
            "HEADRACE_S3_SECRET_ACCESS_KEY": secret.get_secret_value(),
            "HEADRACE_S3_ALLOW_HTTP": "true",
            # Pods share no disk: every pod starts with an empty mirror.
            "HEADRACE_S3_CACHE_DIR": str(tmp_path / "mirrors" / node),
        }

    with runtime_with(runtime, s3_settings) as on_s3:
        pods_match_the_local_executor(s3_api, on_s3, pod_env)
    assert not (tmp_path / "data" / "warehouse").exists()


def test_two_concurrent_commits_to_one_table_both_land(s3_api: Api, s3_settings: Settings) -> None:
    table = Warehouse.from_settings(s3_settings).table(uuid.UUID(s3_api.org_id), uuid.uuid4())
    duck = ServiceDuck()
    con = duck.connect()
    try:
        write_version(table, lambda folder: _copy(con, folder, 0))
    finally:
        con.close()
    both_copied = threading.Barrier(2)
    versions: dict[int, int] = {}
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        own = duck.connect()

        def produce(folder: str) -> list[tuple[Any, ...]]:
            written = _copy(own, folder, n)
            both_copied.wait(30)  # both bases are at version 0 before either commits
            return written

        try:
            versions[n] = write_version(table, produce).version
        except BaseException as err:
            errors.append(err)
        finally:
            own.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    assert errors == []
    assert sorted(versions.values()) == [1, 2]  # the loser retried on the winner's version
    assert delta.current_version(table) == 2
    for n, version in versions.items():
        assert read(table, version) == [{"writer": n}]
    duck.close()


def _copy(con: Any, folder: str, n: int) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = con.execute(
        f"COPY (SELECT {n} AS writer) TO '{folder}/part-{uuid.uuid4().hex}.parquet' "
        "(FORMAT parquet, RETURN_STATS)"
    ).fetchall()
    return rows
