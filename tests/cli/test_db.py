"""``headrace db upgrade`` and ``headrace db wait``: a migration Job migrates, the pods of the
API and the workers wait for it before they start (deploy/)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from headrace.cli.main import app


def test_db_wait_fails_until_the_store_is_migrated_then_succeeds(tmp_path: Path) -> None:
    env = {
        "HEADRACE_DATA_DIR": str(tmp_path),
        "HEADRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
    }
    waited = CliRunner().invoke(app, ["db", "wait", "--timeout", "0.2"], env=env)
    assert waited.exit_code == 1
    assert "not migrated after 0.2 s" in waited.output
    assert CliRunner().invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    waited = CliRunner().invoke(app, ["db", "wait", "--timeout", "0"], env=env)
    assert waited.exit_code == 0, waited.output
    assert "up to date" in waited.output
