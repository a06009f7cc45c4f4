"""What CLI commands share: the settings and the metadata store they point at, and how a
long-running process settles in."""

from __future__ import annotations

import gc

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


def freeze_startup_objects() -> None:
    """For a long-running process (server, worker), once it is set up: everything made so far
    (modules, routes, models, tables) lives as long as the process, and frozen it is no longer
    walked by each full garbage collection (a pause of tens of milliseconds otherwise)."""
    gc.collect()
    gc.freeze()
