"""What CLI commands share: the settings and the metadata store they point at."""

from __future__ import annotations

from headrace.persistence.db import Database
from headrace.settings import Settings


def open_database(settings: Settings | None = None, *, migrate: bool) -> Database:
    """The configured metadata store, migrated to the newest schema when ``migrate``."""
    settings = settings or Settings()
    db = Database(settings.effective_database_url)
    if migrate:
        from headrace.persistence.migrate import upgrade

        upgrade(db.engine)
    return db
