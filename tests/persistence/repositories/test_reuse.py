"""The reuse index on both metadata stores: found by organisation and fingerprint only."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, select, text

from headrace.persistence.db import Database
from headrace.persistence.repositories import reuse as repo
from headrace.persistence.tables import step_fingerprints
from headrace.runtime import Runtime
from tests.execution.support import run_pipeline
from tests.factories import Api, generated_steps, make_pipeline


def _fingerprints(db: Database, org_id: str) -> dict[str, str]:
    with db.unit_of_work(write=False) as conn:
        rows = conn.execute(
            select(step_fingerprints.c.step_name, step_fingerprints.c.fingerprint).where(
                step_fingerprints.c.org_id == uuid.UUID(org_id)
            )
        )
        return {r.step_name: r.fingerprint for r in rows}


def test_a_fingerprint_is_found_for_its_organisation_only(
    runtime: Runtime, api: Api, db: Database
) -> None:
    run = run_pipeline(api, runtime, make_pipeline(api, generated_steps())["id"])
    prints = _fingerprints(db, api.org_id)
    assert set(prints) == {"gen", "double", "total"}
    with db.unit_of_work(write=False) as conn:
        found = repo.succeeded(conn, uuid.UUID(api.org_id), prints.values())
        elsewhere = repo.succeeded(conn, uuid.uuid4(), prints.values())
    assert {r[0].step_name for r in found.values()} == {"gen", "double", "total"}
    assert found[prints["double"]][0].run_id == uuid.UUID(run["id"])
    assert found[prints["double"]][0].output_versions == {"doubled": 0}
    assert elsewhere == {}


def test_the_lookup_is_one_query_through_indexes(runtime: Runtime, api: Api, db: Database) -> None:
    """PostgreSQL is asked to avoid sequential scans (it prefers them on tables this small),
    so the plan shows whether an index can serve."""
    run_pipeline(api, runtime, make_pipeline(api, generated_steps())["id"])
    prints = list(_fingerprints(db, api.org_id).values())
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    with db.unit_of_work(write=False) as conn:
        event.listen(conn, "before_cursor_execute", record)
        repo.succeeded(conn, uuid.UUID(api.org_id), prints)
        event.remove(conn, "before_cursor_execute", record)
        [(statement, params)] = seen
        raw = conn.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        if db.is_sqlite:
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
            assert "ix_step_fingerprints_org_fingerprint" in plan, plan
            assert "SEARCH run_steps USING INDEX" in plan, plan
        else:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            cursor.execute(f"EXPLAIN {statement}", params)
            plan = " | ".join(str(row[0]) for row in cursor.fetchall())
            assert "Seq Scan" not in plan, plan
            assert "ix_step_fingerprints_org_fingerprint" in plan, plan
