"""The catalog's queries on both metadata stores: an organisation's storage usage."""

from __future__ import annotations

import datetime as dt
import uuid

from headrace.persistence.db import Database
from headrace.persistence.repositories import datasets as repo
from headrace.services import keys
from tests.persistence.repositories.query_plans import one_statement_plan


def _org_with_versions(db: Database, sizes: dict[str, list[int]]) -> uuid.UUID:
    org_id = keys.create_org(db, f"org-{uuid.uuid4().hex[:6]}").record.org_id
    now = dt.datetime.now(dt.UTC)
    with db.unit_of_work() as conn:
        for name, versions in sizes.items():
            dataset_id = uuid.uuid4()
            repo.add(conn, org_id, dataset_id, name, now)
            for version, size in enumerate(versions):
                repo.add_version(
                    conn,
                    dataset_id,
                    now,
                    version=version,
                    row_count=1,
                    bytes=size,
                    schema=[],
                    operation="upload",
                )
    return org_id


def test_stored_bytes_sums_every_version_of_the_organisation_only(db: Database) -> None:
    org = _org_with_versions(db, {"a": [100, 250], "b": [7]})
    _org_with_versions(db, {"a": [1_000_000]})  # another organisation's
    empty = _org_with_versions(db, {"never_written": []})
    with db.unit_of_work(write=False) as conn:
        assert repo.stored_bytes(conn, org) == 357
        assert repo.stored_bytes(conn, empty) == 0


def test_stored_bytes_is_one_query_through_indexes(db: Database) -> None:
    """The usage is read at every upload, upsert and step start: one statement, each table
    reached through an index."""
    org = _org_with_versions(db, {"a": [1, 2]})
    plan = one_statement_plan(db, lambda conn: repo.stored_bytes(conn, org))
    if db.is_sqlite:
        assert "SEARCH datasets USING INDEX" in plan, plan
        assert "SEARCH dataset_versions USING INDEX" in plan, plan
    else:
        assert "Seq Scan" not in plan, plan
        assert "on datasets" in plan and "on dataset_versions" in plan, plan
