"""Pipeline files as projects write them: SQL in files, inputs inferred, the one-valued types
left out, and every problem reported as ``file:line:column``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from headrace.cli.pipeline_file import PipelineFileError, json_schema, load
from headrace.domain.problems import Problem

REPO = Path(__file__).resolve().parents[2]


def _write(folder: Path, text: str) -> Path:
    path = folder / "pipeline.yaml"
    path.write_text(text)
    return path


def test_query_file_and_inferred_inputs_are_sent_as_the_api_takes_them(tmp_path: Path) -> None:
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "joined.sql").write_text(
        "WITH recent AS (SELECT * FROM orders WHERE day > '2026-01-01')\n"
        "SELECT * FROM recent JOIN customers USING (customer_id)\n"
    )
    path = _write(
        tmp_path,
        """\
name: project
steps:
  - name: joined
    config:
      query_file: sql/joined.sql
      output_datasets: [joined]
  - name: totals
    config:
      query: SELECT count(*) AS n FROM joined
      output_datasets: [totals]
  - name: declared
    config:
      job_type: data-transform
      query_type: sql
      query: SELECT 1 AS one
      input_datasets: [totals]
      output_datasets: [declared]
""",
    )
    file = load(path)
    joined, totals, declared = file.step_bodies
    assert joined["config"]["query"] == (tmp_path / "sql" / "joined.sql").read_text()
    assert joined["config"]["input_datasets"] == ["customers", "orders"]  # not the CTE
    assert "query_file" not in joined["config"]
    assert joined["config"]["job_type"] == "data-transform"
    assert joined["config"]["query_type"] == "sql"
    assert totals["config"]["input_datasets"] == ["joined"]
    assert declared["config"]["input_datasets"] == ["totals"]  # as written, never inferred
    assert [s.config.input_datasets for s in file.steps] == [
        ("customers", "orders"),
        ("joined",),
        ("totals",),
    ]


def test_a_multi_output_step_infers_only_what_it_does_not_create(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
name: split
steps:
  - name: split
    config:
      output_datasets: [small, big]
      query: |
        CREATE TABLE small AS SELECT * FROM numbers WHERE n < 10;
        CREATE TABLE big AS SELECT * FROM numbers WHERE n NOT IN (SELECT n FROM small);
""",
    )
    assert load(path).step_bodies[0]["config"]["input_datasets"] == ["numbers"]


def test_shape_problems_are_located_by_line_and_column(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
name: broken
steps:
  - name: fine
    config:
      query: SELECT 1 AS x
      output_datasets: [x]
  - name: typo
    config:
      querry: SELECT 1 AS y
      output_datasets: [y]
  - name: both
    config:
      query: SELECT 1 AS z
      query_file: z.sql
      output_datasets: [z]
""",
    )
    with pytest.raises(PipelineFileError) as raised:
        load(path)
    message = str(raised.value)
    assert f"{path}:9:7: steps.typo.config.querry: Extra inputs are not permitted" in message
    # the missing query is placed at the config that lacks it
    assert f"{path}:8:5: steps.typo.config.query: " in message
    # every problem at once, the shape's and the SQL's sources'
    assert [(p.line, p.column) for p in raised.value.positions] == [(9, 7), (8, 5), (14, 7)]
    assert [p.loc for p in raised.value.problems] == [
        ("steps", "typo", "config", "querry"),
        ("steps", "typo", "config", "query"),
        ("steps", "both", "config", "query_file"),
    ]


def test_sql_source_problems_are_located(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
name: broken
steps:
  - name: both
    config:
      query: SELECT 1 AS z
      query_file: z.sql
      output_datasets: [z]
  - name: gone
    config:
      query_file: missing.sql
      output_datasets: [g]
""",
    )
    with pytest.raises(PipelineFileError) as raised:
        load(path)
    message = str(raised.value)
    both = "steps.both.config.query_file: give query or query_file, not both"
    assert f"{path}:6:7: {both}" in message
    assert f"{path}:10:7: steps.gone.config.query_file: cannot read missing.sql" in message


def test_a_problem_of_sql_in_a_query_file_points_into_that_file(tmp_path: Path) -> None:
    (tmp_path / "bad.sql").write_text("SELECT 1 AS a\nFROM (\n")
    path = _write(
        tmp_path,
        "name: p\nsteps:\n  - name: bad\n    config: {query_file: bad.sql, output_datasets: [b]}\n",
    )
    file = load(path)
    from headrace.domain.validation import validate_steps

    [problem] = validate_steps(file.steps)
    assert problem.loc == ("steps", "bad", "config", "query")
    where = file.where(problem)
    assert where.startswith(f"{tmp_path / 'bad.sql'}:2:"), where
    unnamed = Problem(("steps", "bad", "config", "output_datasets"), "wrong", "x")
    assert file.where(unnamed) == f"{path}:4:35: steps.bad.config.output_datasets: wrong"


def test_yaml_errors_name_their_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\nsteps: [unclosed\n")
    with pytest.raises(PipelineFileError, match=rf"^{path}:3:1: not valid YAML"):
        load(path)


def test_the_committed_json_schema_is_current() -> None:
    committed = json.loads((REPO / "schemas" / "pipeline-file.schema.json").read_text())
    assert committed == json_schema(), (
        "regenerate it: headrace schema pipeline-file > schemas/pipeline-file.schema.json"
    )


def test_the_json_schema_checks_what_load_checks(tmp_path: Path) -> None:
    from jsonschema import Draft202012Validator

    schema = json_schema()
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    good = {
        "name": "p",
        "steps": [{"name": "s", "config": {"query": "SELECT 1 AS x", "output_datasets": ["x"]}}],
    }
    assert list(validator.iter_errors(good)) == []
    for config in (
        {"output_datasets": ["x"]},  # no SQL
        {"query": "SELECT 1", "query_file": "a.sql", "output_datasets": ["x"]},  # both
        {"query": "SELECT 1", "output_datasets": ["x"], "querry": "typo"},
    ):
        bad = {"name": "p", "steps": [{"name": "s", "config": config}]}
        assert list(validator.iter_errors(bad)), config


def _headrace(*args: str, data: Path) -> tuple[int, str]:
    from typer.testing import CliRunner

    from headrace.cli.main import app

    env = {"HEADRACE_DATA_DIR": str(data), "HEADRACE_LOG_LEVEL": "WARNING", "COLUMNS": "250"}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


BAD_SQL = """\
name: p
steps:
  - name: ok
    config:
      query: SELECT 1 AS n
      output_datasets: [n]
  - name: broken
    config:
      query: SELECT n FROM n WHERE
      output_datasets: [m]
"""


def test_validate_and_run_say_where_each_problem_is(tmp_path: Path) -> None:
    path = _write(tmp_path, BAD_SQL)
    code, output = _headrace("pipelines", "validate", "-f", str(path), "--json", data=tmp_path)
    assert code == 1
    [problem] = json.loads(output)["problems"]
    # inside the SQL: the end of WHERE, which sqlglot names
    assert (problem["file"], problem["line"], problem["column"]) == (str(path), 9, 34)
    assert problem["loc"] == ["steps", "broken", "config", "query"]
    code, output = _headrace("pipelines", "validate", "-f", str(path), data=tmp_path)
    assert f"  {path}:9:34: steps.broken.config.query: the query cannot be parsed" in output
    code, output = _headrace("run", str(path), data=tmp_path / "data")
    assert code == 2
    assert f"{path}:9:34: steps.broken.config.query: the query cannot be parsed" in output


def test_a_problem_inside_a_block_of_sql_points_at_its_line(tmp_path: Path) -> None:
    from headrace.domain.validation import validate_steps

    path = _write(
        tmp_path,
        """\
name: p
steps:
  - name: block
    config:
      output_datasets: [b]
      query: |
        SELECT 1 AS a
        FROM (
  - name: quoted
    config:
      output_datasets: [q]
      query: "SELECT n FROM q WHERE"
  - name: unlocated
    config:
      output_datasets: [u]
      query: SELECT * FROM nowhere
      input_datasets: []
""",
    )
    file = load(path)
    found = {p.loc[1]: file.position(p) for p in validate_steps(file.steps)}
    assert (found["block"].line, found["block"].column) == (8, 14)  # "FROM (" ends at column 14
    assert (found["quoted"].line, found["quoted"].column) == (12, 35)
    assert (found["unlocated"].line, found["unlocated"].column) == (16, 7)  # the query key


def test_the_example_points_at_the_schema_and_satisfies_it() -> None:
    from jsonschema import Draft202012Validator

    example = REPO / "examples" / "shop" / "pipeline.yaml"
    first = example.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    schema_path = (example.parent / first.split("$schema=", 1)[1]).resolve()
    assert schema_path == REPO / "schemas" / "pipeline-file.schema.json"
    document = yaml.safe_load(example.read_text())
    assert list(Draft202012Validator(json_schema()).iter_errors(document)) == []
