"""The query plan of the one statement a repository function executes, on either store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, event, text

from headrace.persistence.db import Database


def one_statement_plan(db: Database, call: Callable[[Connection], object]) -> str:
    """``call`` must execute exactly one statement; its plan as the database explains it
    (SQLite's EXPLAIN QUERY PLAN details, PostgreSQL's EXPLAIN lines, joined by " | ").
    PostgreSQL is asked to avoid sequential scans, which it prefers on tables this small, so
    the plan shows whether an index can serve."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    with db.unit_of_work(write=False) as conn:
        event.listen(conn, "before_cursor_execute", record)
        call(conn)
        event.remove(conn, "before_cursor_execute", record)
        [(statement, params)] = seen
        raw = conn.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        if db.is_sqlite:
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            return " | ".join(str(row[-1]) for row in cursor.fetchall())
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        cursor.execute(f"EXPLAIN {statement}", params)
        return " | ".join(str(row[0]) for row in cursor.fetchall())
