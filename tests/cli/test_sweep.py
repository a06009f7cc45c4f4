"""``headrace sweep`` over a real installation (SQLite store, local warehouse) holding what
killed writes leave: an unrecorded commit, an unreferenced write folder, the table folder of
a dataset never recorded, a staged upload. Everything old goes; what versions use stays."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headrace.cli.main import app
from headrace.domain.access import Principal, Role
from headrace.persistence.db import Database
from headrace.persistence.migrate import upgrade
from headrace.runtime import Runtime
from headrace.services import datasets, keys
from headrace.settings import Settings
from headrace.storage import delta, unrecorded
from tests.storage.test_delta import copy_into, read, write


@pytest.fixture
def installation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings under which everything made before the sweep is past the grace period."""
    for name, value in {
        "HEADRACE_DATA_DIR": str(tmp_path / "data"),
        "HEADRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'headrace.db'}",
        "HEADRACE_UNRECORDED_GRACE_SECONDS": "0",
        "HEADRACE_STEP_TIMEOUT_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    db = Database(settings.effective_database_url)
    upgrade(db.engine)
    db.dispose()
    return settings


def _upload(db: Database, settings: Settings, who: Principal, csv: str) -> uuid.UUID:
    path = Path(datasets.scratch_folder(settings)) / f"{uuid.uuid4().hex}.csv"
    path.write_text(csv)
    source = datasets.SourceFile(str(path), "d.csv", "text/csv")
    with Runtime(settings, db) as rt:
        record = datasets.upload(rt, who, "d", source)
    path.unlink()
    return uuid.UUID(str(record.id))


def test_sweep_removes_what_killed_writes_left_and_keeps_every_version(
    installation: Settings,
) -> None:
    settings = installation
    db = Database(settings.effective_database_url)
    made = keys.create_org(db, "org")
    who = Principal(made.record.org_id, made.record.id, Role.ADMIN)
    dataset = _upload(db, settings, who, "id\n1\n2\n")
    _upload(db, settings, who, "id\n3\n")
    db.dispose()
    warehouse = Path(settings.effective_warehouse) / who.org_id.hex
    table = str(warehouse / dataset.hex)
    write(table, "SELECT 10 AS id")  # v2, committed and never recorded
    [(stray, *_)] = copy_into(table, "SELECT 11 AS id")  # written, never committed
    never_recorded = warehouse / uuid.uuid4().hex  # a new dataset killed before its record
    write(str(never_recorded), "SELECT 12 AS id")
    staged = Path(datasets.scratch_folder(settings)) / "upload-killed"
    staged.write_bytes(b"id\n13\n")

    result = CliRunner().invoke(app, ["sweep"])

    assert result.exit_code == 0, result.output
    assert "bytes freed" in result.output
    assert "rolled back" in result.output
    assert not os.path.exists(os.path.dirname(str(stray)))
    assert not never_recorded.exists()
    assert not staged.exists()
    assert delta.commit_info(table, 3)[unrecorded.ROLLBACK_TAG] == "1"
    assert read(table, 0) == [{"id": 1}, {"id": 2}]
    assert read(table, 1) == [{"id": 3}]
    assert read(table, 2) == [{"id": 10}]  # not served, but not broken
    again = CliRunner().invoke(app, ["sweep"])
    assert again.exit_code == 0 and "0 files and folders removed" in again.output, again.output
    assert "0 abandoned commits rolled back" in again.output
