"""``headrace pipelines …`` in-process against a real server."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli, one_line_error
from tests.factories import generated_steps, make_step


def test_create_list_show(cli: Cli) -> None:
    path = cli.pipeline_file("shop", description="the shop")
    created = cli("pipelines", "create", "-f", str(path))
    assert created.exit_code == 0, created.output
    assert "created pipeline shop" in created.stdout
    listed = cli("pipelines", "list")
    assert listed.exit_code == 0 and "shop" in listed.stdout and "pipelines" in listed.stdout
    [pipeline] = json.loads(cli("pipelines", "list", "--json").stdout)
    assert pipeline["name"] == "shop" and pipeline["current_version"]["number"] == 1
    by_name = cli("pipelines", "show", "shop")
    assert by_name.exit_code == 0
    assert all(step in by_name.stdout for step in ("gen", "double", "total", "numbers"))
    by_id = json.loads(cli("pipelines", "show", pipeline["id"], "--json").stdout)
    assert by_id["id"] == pipeline["id"]
    again = cli("pipelines", "create", "-f", str(path))
    assert "exists already" in one_line_error(again)


def test_push_adds_a_version_only_when_the_steps_changed(cli: Cli) -> None:
    path = cli.pipeline_file("flow")
    first = cli("pipelines", "push", "-f", str(path))
    assert first.exit_code == 0 and "created pipeline flow" in first.stdout
    same = cli("pipelines", "push", "-f", str(path))
    assert same.exit_code == 0 and "steps unchanged, still version 1" in same.stdout
    steps = generated_steps()
    steps[1]["config"]["query"] = "SELECT n * 3 AS n FROM numbers"
    steps.append(make_step("extra", "SELECT count(*) AS c FROM total", ["total"], ["extra"]))
    del steps[2]
    steps.append(
        make_step("total", "SELECT sum(n)::BIGINT AS total FROM doubled", ["doubled"], ["total"])
    )
    changed = cli("pipelines", "push", "-f", str(cli.pipeline_file("flow", steps)))
    assert changed.exit_code == 0, changed.output
    lines = changed.stdout.splitlines()
    assert "+ extra: added" in lines
    assert "~ double: query changed" in lines
    assert not any(line.startswith("↕") for line in lines)
    assert lines[-1] == "flow: new version 2"
    shown = json.loads(cli("pipelines", "show", "flow", "--json").stdout)
    assert [s["name"] for s in shown["current_version"]["steps"]] == [
        "gen",
        "double",
        "extra",
        "total",
    ]


def test_validate_lists_every_problem_with_its_step_and_field(cli: Cli) -> None:
    good = cli("pipelines", "validate", "-f", str(cli.pipeline_file("ok")))
    assert good.exit_code == 0 and "valid" in good.stdout
    steps = [
        make_step("gen", "SELECT range AS n FROM range(3)", [], ["numbers"]),
        make_step("gen", "SELECT * FROM elsewhere", ["numbers"], ["out"]),
    ]
    bad = cli("pipelines", "validate", "-f", str(cli.pipeline_file("bad", steps)))
    assert bad.exit_code == 1
    assert "steps.gen.name: step name 'gen' is used more than once" in bad.stdout
    assert "steps.gen.config.query: the query reads 'elsewhere'" in bad.stdout
    shape = [{"name": "broken", "config": {"job_type": "data-transform", "query_type": "sql"}}]
    result = cli("pipelines", "validate", "-f", str(cli.pipeline_file("shape", shape)), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert {tuple(p["loc"]) for p in report["problems"]} == {
        ("steps", "broken", "config", "query"),
        ("steps", "broken", "config", "output_datasets"),
    }


def test_push_refuses_a_breaking_change_unless_allowed(cli: Cli) -> None:
    v1 = [make_step("src", "SELECT 1 AS id, 'a' AS tag", [], ["tagged"])]
    assert cli("pipelines", "push", "-f", str(cli.pipeline_file("tags", v1))).exit_code == 0
    reader = [make_step("uses", "SELECT tag FROM tagged", ["tagged"], ["used"])]
    assert cli("pipelines", "push", "-f", str(cli.pipeline_file("reads", reader))).exit_code == 0
    v2 = [make_step("src", "SELECT 1 AS id", [], ["tagged"])]
    path = str(cli.pipeline_file("tags", v2))
    refused = cli("pipelines", "push", "-f", path)
    error = one_line_error(refused)
    assert "--allow-breaking" in error
    assert "src: column 'tag' of 'tagged' is removed or renamed; read by reads/uses" in error
    shown = json.loads(cli("pipelines", "show", "tags", "--json").stdout)
    assert shown["current_version"]["number"] == 1  # nothing was pushed
    allowed = cli("pipelines", "push", "-f", path, "--allow-breaking")
    assert allowed.exit_code == 0, allowed.output
    assert (
        "breaking: src: column 'tag' of 'tagged' is removed or renamed; read by reads/uses"
        in allowed.stdout.splitlines()
    )
    assert allowed.stdout.splitlines()[-1] == "tags: new version 2"
