"""``headrace init``: a project that ``headrace run`` runs at once, which editors can check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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


def test_a_repeat_run_of_an_unchanged_project_infers_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeat run of the same file takes the inputs a step left out from the version it
    stored; only a step whose SQL changed is inferred again."""
    from headrace.cli import pipeline_file

    inferred: list[str] = []
    infer = pipeline_file._inferred_inputs

    def counted(query: str, outputs: int) -> list[str]:
        inferred.append(query)
        return infer(query, outputs)

    monkeypatch.setattr(pipeline_file, "_inferred_inputs", counted)
    data = tmp_path / "data"
    assert _headrace("init", str(tmp_path), data=data)[0] == 0
    pipeline = tmp_path / "pipeline.yaml"
    assert _headrace("run", str(pipeline), data=data)[0] == 0
    assert len(inferred) == 2
    inferred.clear()
    code, output = _headrace("run", str(pipeline), data=data)
    assert code == 0 and "steps changed" not in output
    assert inferred == []
    pipeline.write_text(pipeline.read_text().replace("SELECT customer, orders,", "SELECT *,"))
    code, output = _headrace("run", str(pipeline), data=data)
    assert code == 0 and "steps changed, new version" in output
    assert len(inferred) == 1 and inferred[0].startswith("SELECT *,")
