"""``headrace init``: a project that ``headrace run`` runs at once, which editors can check."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from headrace.cli.main import app


def _headrace(*args: str, data: Path) -> tuple[int, str]:
    env = {"HEADRACE_DATA_DIR": str(data), "HEADRACE_LOG_LEVEL": "WARNING", "COLUMNS": "200"}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_a_new_project_runs_at_once(tmp_path: Path) -> None:
    project = tmp_path / "my shop"
    code, output = _headrace("init", str(project), data=tmp_path / "data")
    assert code == 0, output
    pipeline = project / "pipeline.yaml"
    assert f"next: headrace run {pipeline}" in output
    code, output = _headrace("run", str(pipeline), data=tmp_path / "data")
    assert code == 0, output
    assert "source orders: loaded 5 rows" in output
    assert "customer_totals" in output and "customer_share" in output
    assert "Succeeded" in output and "Failed" not in output
    assert yaml.safe_load(pipeline.read_text())["name"] == "my-shop"


def test_the_pipeline_file_points_editors_at_its_schema(tmp_path: Path) -> None:
    assert _headrace("init", str(tmp_path), data=tmp_path / "data")[0] == 0
    text = (tmp_path / "pipeline.yaml").read_text()
    first = text.splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    schema_path = tmp_path / first.split("$schema=", 1)[1]
    schema = json.loads(schema_path.read_text())
    _, printed = _headrace("schema", "pipeline-file", data=tmp_path / "data")
    assert json.loads(printed) == schema
    assert list(Draft202012Validator(schema).iter_errors(yaml.safe_load(text))) == []


def test_init_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text("name: mine\n")
    code, output = _headrace("init", str(tmp_path), data=tmp_path / "data")
    assert code == 2
    assert "exist(s) already; nothing was written" in output
    assert (tmp_path / "pipeline.yaml").read_text() == "name: mine\n"
    assert not (tmp_path / "sql").exists()


_FRESH_RUN = """
import sys
from typer.testing import CliRunner
from headrace.cli.main import app
result = CliRunner().invoke(app, ["run", sys.argv[1]])
print(result.output)
print("exit", result.exit_code, "sqlglot loaded", "sqlglot" in sys.modules)
"""


def test_a_repeat_run_of_an_unchanged_project_infers_nothing(tmp_path: Path) -> None:
    """Inferring inputs needs sqlglot: a repeat run of the same file takes them from the
    version it stored, and never imports it (a changed step is inferred again)."""
    import os
    import subprocess
    import sys

    assert _headrace("init", str(tmp_path), data=tmp_path / "data")[0] == 0
    env = {**os.environ, "HEADRACE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}

    def fresh_run() -> str:
        pipeline = str(tmp_path / "pipeline.yaml")
        done = subprocess.run(
            [sys.executable, "-c", _FRESH_RUN, pipeline],
            env={**env, "HEADRACE_LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "exit 0 sqlglot loaded True" in fresh_run()
    assert "exit 0 sqlglot loaded False" in fresh_run()
    sql = tmp_path / "sql" / "customer_totals.sql"
    sql.write_text(sql.read_text().replace("count(*) AS orders", "count(*) AS order_count"))
    (tmp_path / "pipeline.yaml").write_text(
        (tmp_path / "pipeline.yaml").read_text().replace("SELECT customer, orders,", "SELECT *,")
    )
    changed = fresh_run()
    assert "steps changed, new version" in changed and "exit 0 sqlglot loaded True" in changed
