"""Apply the Alembic migrations that ship inside the package.

A store already at the newest revision is recognised with one query, without importing
Alembic, a heavy import that would otherwise be most of ``headrace run``'s start-up. On
PostgreSQL the migration holds an advisory lock for its transaction, so processes that start
together (pods of a Deployment, a migration Job) migrate one after the other: the second
finds the store at the newest revision and does nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

MIGRATIONS = Path(__file__).parent / "migrations"

# The newest revision in migrations/versions (tests/persistence/test_migrate.py holds it to
# Alembic's own answer, so a new migration cannot be forgotten here).
HEAD = "0009"
# The transaction-scoped advisory lock migrations take on PostgreSQL (an arbitrary constant,
# distinct from the outbox's).
MIGRATION_LOCK = 0x68726D67


def current_revision(engine: Engine) -> str | None:
    """The revision the store is at; None when it has never been migrated."""
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:  # no alembic_version table yet
        return None
    return None if found is None else str(found)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema of ``engine``'s database to ``revision``."""
    if revision in ("head", HEAD) and current_revision(engine) == HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def wait_for_head(engine: Engine, timeout: float, poll: float = 1.0) -> bool:
    """True once the store is at the newest revision this code knows, False if it is not
    after ``timeout`` seconds: what a pod runs before it starts when a migration Job, not
    the pod, migrates (an unreachable store counts as not yet migrated)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if current_revision(engine) == HEAD:
                return True
        except OperationalError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
