"""The migration fast path: a store at the newest revision is left alone without Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from headrace.persistence.migrate import HEAD, MIGRATIONS, current_revision, upgrade


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
