"""Apply the Alembic migrations that ship inside the package.

A store already at the newest revision is recognised with one query, without importing
Alembic, a heavy import that would otherwise be most of ``headrace run``'s start-up.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

MIGRATIONS = Path(__file__).parent / "migrations"

# The newest revision in migrations/versions (tests/persistence/test_migrate.py holds it to
# Alembic's own answer, so a new migration cannot be forgotten here).
HEAD = "0006"


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
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
