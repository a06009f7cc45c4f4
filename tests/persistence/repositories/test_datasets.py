"""The catalog's queries on both metadata stores: an organisation's storage usage."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import event, text

from headrace.persistence.db import Database
from headrace.persistence.repositories import datasets as repo
from headrace.services import keys


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
    reached through an index (PostgreSQL is asked to avoid sequential scans, which it
    prefers on tables this small, so the plan shows whether an index can serve)."""
    org = _org_with_versions(db, {"a": [1, 2]})
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    with db.unit_of_work(write=False) as conn:
        event.listen(conn, "before_cursor_execute", record)
        repo.stored_bytes(conn, org)
        event.remove(conn, "before_cursor_execute", record)
        [(statement, params)] = seen
        raw = conn.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        if db.is_sqlite:
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
            assert "SEARCH datasets USING INDEX" in plan, plan
            assert "SEARCH dataset_versions USING INDEX" in plan, plan
        else:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            cursor.execute(f"EXPLAIN {statement}", params)
            plan = " | ".join(str(row[0]) for row in cursor.fetchall())
            assert "Seq Scan" not in plan, plan
            assert "on datasets" in plan and "on dataset_versions" in plan, plan
