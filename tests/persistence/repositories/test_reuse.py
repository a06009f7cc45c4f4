"""The reuse index on both metadata stores: found by organisation and fingerprint only."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from headrace.persistence.db import Database
from headrace.persistence.repositories import reuse as repo
from headrace.persistence.tables import step_fingerprints
from headrace.runtime import Runtime
from tests.execution.support import run_pipeline
from tests.factories import Api, generated_steps, make_pipeline
from tests.persistence.repositories.query_plans import one_statement_plan


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
    run_pipeline(api, runtime, make_pipeline(api, generated_steps())["id"])
    prints = list(_fingerprints(db, api.org_id).values())
    plan = one_statement_plan(db, lambda conn: repo.succeeded(conn, uuid.UUID(api.org_id), prints))
    assert "ix_step_fingerprints_org_fingerprint" in plan, plan
    if db.is_sqlite:
        assert "SEARCH run_steps USING INDEX" in plan, plan
    else:
        assert "Seq Scan" not in plan, plan
