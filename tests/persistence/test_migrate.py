"""The migration fast path: a store at the newest revision is left alone without Alembic."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect

from headrace.persistence.migrate import HEAD, MIGRATIONS, current_revision, upgrade, wait_for_head
from tests.conftest import _postgres_database


def test_head_is_alembics_newest_revision() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_upgrade_migrates_a_new_store_then_recognises_it(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == HEAD
    tables = set(inspect(engine).get_table_names())
    upgrade(engine)  # the fast path: nothing changes
    assert set(inspect(engine).get_table_names()) == tables
    engine.dispose()


def test_migrations_started_together_run_one_after_the_other() -> None:
    """Pods that start at once (or a migration Job beside them) each call ``upgrade`` on a
    new PostgreSQL store: the advisory lock makes the later ones find it migrated."""
    for url in _postgres_database(f"headrace_migrate_{uuid.uuid4().hex[:12]}"):
        # Without the lock one of them waits on another's catalog locks: fail, do not hang.
        engines = [
            create_engine(url, connect_args={"options": "-c lock_timeout=30s"}) for _ in range(4)
        ]
        barrier = threading.Barrier(len(engines))

        def migrate(engine: Engine, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            upgrade(engine)

        with ThreadPoolExecutor(len(engines)) as pool:
            for done in [pool.submit(migrate, e) for e in engines]:
                done.result()
        assert current_revision(engines[0]) == HEAD
        for engine in engines:
            engine.dispose()


def test_wait_for_head_waits_until_another_process_has_migrated(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    assert not wait_for_head(engine, timeout=0.2, poll=0.05)
    migrator = threading.Timer(0.3, upgrade, (engine,))
    migrator.start()
    assert wait_for_head(engine, timeout=30, poll=0.05)
    migrator.join()
    engine.dispose()
