"""``headrace run PIPELINE.yaml``: sources loaded only when they changed, the run shown step
by step, the exit code (0 succeeded, 1 the run did not, 2 the file or a service said no)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import yaml
from click.testing import Result
from deltalake import DeltaTable
from typer.testing import CliRunner

from headrace.cli.context import importing
from headrace.cli.main import app
from tests.cli.fresh_run import fresh_run


def _write(folder: Path, steps: list[dict[str, Any]]) -> Path:
    path = folder / "pipeline.yaml"
    sources = {"people": "people.csv", "regions": "regions.csv"}
    doc = {"name": "people", "sources": sources, "steps": steps}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _step(name: str, query: str, inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "config": {
            "job_type": "data-transform",
            "query_type": "sql",
            "input_datasets": inputs,
            "output_datasets": outputs,
            "query": query,
        },
    }


STEPS = [
    _step("by_town", "SELECT town, count(*) AS n FROM people GROUP BY town", ["people"], ["towns"]),
    _step("biggest", "SELECT max(n) AS n FROM towns", ["towns"], ["biggest"]),
]


def _run(path: Path, data: Path, *args: str) -> Result:
    env = {"HEADRACE_DATA_DIR": str(data), "HEADRACE_LOG_LEVEL": "WARNING", "COLUMNS": "200"}
    return CliRunner().invoke(app, ["run", str(path), *args], env=env)


def test_sources_load_once_and_reload_when_they_change(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("name,town\nada,york\nbob,york\ncy,leeds\n")
    (tmp_path / "regions.csv").write_text("region\nnorth\n")
    path = _write(tmp_path, STEPS)
    first = _run(path, tmp_path / "data")
    assert first.exit_code == 0, first.output
    assert "source people: loaded 3 rows as version 0" in first.output
    assert "source regions: loaded 1 rows as version 0" in first.output
    assert "Succeeded" in first.output and "by_town" in first.output and "biggest" in first.output

    again = _run(path, tmp_path / "data")
    assert again.exit_code == 0, again.output
    assert "source people: unchanged (version 0)" in again.output
    assert "source regions: unchanged (version 0)" in again.output
    assert "steps changed" not in again.output
    assert again.output.count("Skipped (reused)") == 2  # nothing changed: nothing runs
    forced = _run(path, tmp_path / "data", "--no-cache")
    assert forced.exit_code == 0, forced.output
    assert "(reused)" not in forced.output and forced.output.count("Succeeded") == 3

    (tmp_path / "people.csv").write_text("name,town\nada,york\n")
    changed = _run(path, tmp_path / "data", "--end", "by_town")
    assert changed.exit_code == 0, changed.output
    assert "source people: loaded 1 rows as version 1" in changed.output
    assert "source regions: unchanged (version 0)" in changed.output
    assert "by_town" in changed.output and "biggest" not in changed.output  # past --end


def test_a_source_a_step_writes_comes_back_unread_when_its_file_is_unchanged(
    tmp_path: Path,
) -> None:
    (tmp_path / "people.csv").write_text("name,town\nada,york\nbob,leeds\n")
    (tmp_path / "regions.csv").write_text("region\nnorth\n")
    steps = [
        *STEPS[:1],
        _step("regions_of_towns", "SELECT town AS region FROM towns", ["towns"], ["regions"]),
    ]
    path, data = _write(tmp_path, steps), tmp_path / "data"
    first = _run(path, data)
    assert first.exit_code == 0, first.output
    assert "source regions: loaded 1 rows as version 0" in first.output
    again = _run(path, data)
    assert again.exit_code == 0, again.output
    assert "source regions: unchanged, version 0 again as 2" in again.output
    (table,) = [p.parent for p in data.rglob("_delta_log") if len(list(p.glob("*.json"))) == 4]
    assert (
        DeltaTable(str(table), version=2).file_uris()
        == DeltaTable(str(table), version=0).file_uris()
    )


def test_a_failed_run_exits_1_and_a_bad_file_2(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("name,town\nada,york\n")
    (tmp_path / "regions.csv").write_text("region\nnorth\n")
    broken = [
        *STEPS[:1],
        _step("cast", "SELECT CAST(town AS INTEGER) AS n FROM towns", ["towns"], ["x"]),
    ]
    failed = _run(_write(tmp_path, broken), tmp_path / "data")
    assert failed.exit_code == 1, failed.output
    assert "Failed" in failed.output and "Conversion Error" in failed.output

    (tmp_path / "pipeline.yaml").write_text("name: people\nsteps: [{name: x}]\n")
    bad = _run(tmp_path / "pipeline.yaml", tmp_path / "data")
    assert bad.exit_code == 2
    assert bad.output.startswith("error: ") and "steps.x.config" in bad.output


def test_start_up_imports_are_frozen_and_collection_resumes() -> None:
    frozen = gc.get_freeze_count()
    try:
        with importing():
            assert not gc.isenabled()
            made = [[] for _ in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(made)
    finally:
        gc.unfreeze()  # back to the oldest generation, as the rest of the test process


def test_a_repeat_run_loads_no_duckdb_sql_parser_pyarrow_or_deltalake_and_reports_sql_errors(
    tmp_path: Path,
) -> None:
    # Its steps run in their own processes; the one running the run needs DuckDB only to
    # load a changed source, or to read a DuckDB error a step sent back, the SQL parser only
    # to save a version or make its steps' recipes, which the first run keeps, and pyarrow
    # and deltalake only to commit a step's output.
    (tmp_path / "people.csv").write_text("name,town\nada,york\n")
    (tmp_path / "regions.csv").write_text("region\nnorth\n")
    path = _write(tmp_path, STEPS)
    first = fresh_run(path, tmp_path / "data")
    assert "exit 0 loaded ['duckdb', 'sqlglot', 'pyarrow', 'deltalake']" in first
    again = fresh_run(path, tmp_path / "data")
    assert "exit 0 loaded []" in again
    broken = [*STEPS, _step("cast", "SELECT CAST(n AS DATE) AS d FROM biggest", ["biggest"], ["d"])]
    failed = fresh_run(_write(tmp_path, broken), tmp_path / "data")
    assert "exit 1 loaded ['duckdb'" in failed
    assert "Failed" in failed and "Conversion Error" in failed  # a step's failure, not Error
