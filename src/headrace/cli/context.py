"""What CLI commands share: the settings and the metadata store they point at, and how a
process settles in (its start-up imports, and a long-running one once it is set up)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by open_database: importing() must come before SQLAlchemy
    from headrace.execution.step_process import ReadyProcesses
    from headrace.persistence.db import Database
    from headrace.runtime import Runtime
    from headrace.settings import Settings


def open_database(settings: Settings | None = None, *, migrate: bool) -> Database:
    """The configured metadata store, migrated to the newest schema when ``migrate``."""
    from headrace.persistence.db import Database
    from headrace.settings import Settings

    settings = settings or Settings()
    db = Database(settings.effective_database_url)
    if migrate:
        from headrace.persistence.migrate import upgrade

        upgrade(db.engine)
    return db


def open_runtime(
    settings: Settings,
    *,
    migrate: bool,
    worker: bool = False,
    steps: ReadyProcesses | None = None,
) -> Runtime:
    """The process's runtime (``Runtime.open``: ``worker`` and ``steps`` are its), its
    metadata store migrated to the newest schema first when ``migrate``; the caller closes
    it."""
    from headrace.runtime import Runtime

    runtime = Runtime.open(settings, steps=steps, worker=worker)
    if migrate:
        from headrace.persistence.migrate import upgrade

        try:
            upgrade(runtime.db.engine)
        except BaseException:
            runtime.close()
            raise
    return runtime


@contextmanager
def importing() -> Iterator[None]:
    """For a command's start-up imports: they make many objects that live as long as the
    process and almost no garbage, yet every few hundred of them the collector runs and walks
    the growing heap again, a noticeable part of a short ``headrace run``. Collection is off
    for the block; then what it made is frozen (never walked again) and collection resumes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def freeze_startup_objects() -> None:
    """For a long-running process (server, worker), once it is set up: everything made so far
    (modules, routes, models, tables) lives as long as the process, and frozen it is no longer
    walked by each full garbage collection (a pause of tens of milliseconds otherwise)."""
    gc.collect()
    gc.freeze()
