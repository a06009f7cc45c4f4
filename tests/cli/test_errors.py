"""Bad input and broken setups: one readable line on stderr and a non-zero exit, never a
traceback."""

from __future__ import annotations

from tests.cli.conftest import Cli, one_line_error
from tests.live import free_port


def test_unknown_pipeline(cli: Cli) -> None:
    for args in (
        ("pipelines", "show", "nope"),
        ("runs", "start", "nope"),
        ("runs", "list", "00000000-0000-0000-0000-000000000000"),
    ):
        line = one_line_error(cli(*args))
        assert "there is no pipeline" in line and "[404 not_found]" in line


def test_invalid_files(cli: Cli) -> None:
    missing = one_line_error(cli("pipelines", "create", "-f", str(cli.folder / "none.yaml")))
    assert "cannot read" in missing
    broken = cli.folder / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    assert "not valid YAML" in one_line_error(cli("pipelines", "push", "-f", str(broken)))
    shape = cli.pipeline_file("shape", [{"name": "s", "config": {"job_type": "data-transform"}}])
    assert "steps.s.config.query" in one_line_error(cli("pipelines", "create", "-f", str(shape)))
    duplicate = cli.pipeline_file(
        "dupes",
        [
            {
                "name": "a",
                "config": {
                    "job_type": "data-transform",
                    "query_type": "sql",
                    "query": "SELECT 1 AS x",
                    "output_datasets": ["o"],
                },
            }
        ]
        * 2,
    )
    line = one_line_error(cli("pipelines", "create", "-f", str(duplicate)))
    assert "[422 invalid_input]" in line and "steps.a.name" in line


def test_wrong_key_server_down_and_not_logged_in(cli: Cli) -> None:
    wrong = one_line_error(cli("pipelines", "list", HEADRACE_API_KEY="hr_nope"))
    assert "[401 unauthorized]" in wrong and "headrace login" in wrong
    down = f"http://127.0.0.1:{free_port()}"
    assert "cannot reach" in one_line_error(cli("runs", "list", "x", HEADRACE_URL=down))
    nobody = one_line_error(cli("datasets", "list", HEADRACE_URL="", HEADRACE_API_KEY=""))
    assert "not logged in" in nobody
    offline = cli("pipelines", "validate", "-f", str(cli.pipeline_file("v")), HEADRACE_URL=down)
    assert offline.exit_code == 0


def test_each_problem_is_said_once_with_its_location(cli: Cli) -> None:
    empty = cli.folder / "empty.csv"
    empty.write_bytes(b"")
    line = one_line_error(cli("datasets", "upload", str(empty), "--name", "e"))
    assert line.count("the file is empty") == 1 and "file: the file is empty" in line, line
    # inputs declared (left out, they would be the tables the query reads)
    step = {
        "job_type": "data-transform",
        "query_type": "sql",
        "output_datasets": ["o"],
        "input_datasets": [],
    }
    steps = [
        {"name": "a", "config": {**step, "query": "SELECT * FROM nowhere"}},
        {"name": "b", "config": {**step, "query": "SELECT 1 AS x"}},
    ]
    path = cli.pipeline_file("two", steps)
    line = one_line_error(cli("pipelines", "create", "-f", str(path)))
    # each where the file has it: the server's problems are placed in the file too
    assert f"{path}:10:5: steps.a.config.query: the query reads 'nowhere'" in line, line
    assert "steps.b.config.output_datasets: dataset 'o' is already written by step 'a'" in line
    assert "(and" not in line and line.endswith("[422 invalid_input]"), line
