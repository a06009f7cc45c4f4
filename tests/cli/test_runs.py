"""``headrace runs …`` in-process against a real server and its worker."""

from __future__ import annotations

import json

import pytest

from headrace.cli.remote.progress import follow
from headrace.client import Client
from tests.cli.conftest import Cli, one_line_error
from tests.factories import make_step

# Far too many rows to finish: it runs until it is cancelled.
ENDLESS = "SELECT sum(a.range * b.range) AS s FROM range(1000000) a, range(1000000) b"


def test_start_wait_follows_the_run_and_exits_0(cli: Cli) -> None:
    cli("pipelines", "create", "-f", str(cli.pipeline_file("chain")))
    started = cli("runs", "start", "chain", "--wait")
    assert started.exit_code == 0, started.output
    for line in ("gen: Succeeded (10 rows)", "double: Succeeded", "total: Succeeded (1 rows)"):
        assert line in started.stdout
    assert started.stdout.rstrip().endswith(": Succeeded")
    [run] = json.loads(cli("runs", "list", "chain", "--json").stdout)
    assert run["status"] == "Succeeded"
    listed = cli("runs", "list", "chain")
    assert run["id"] in listed.stdout and "3/3" in listed.stdout
    shown = cli("runs", "show", "chain", run["id"])
    assert shown.exit_code == 0 and "total" in shown.stdout
    assert json.loads(cli("runs", "show", "chain", run["id"], "--json").stdout) == run


def test_partial_run_and_logs(cli: Cli) -> None:
    cli("pipelines", "create", "-f", str(cli.pipeline_file("logged")))
    full = json.loads(cli("runs", "start", "logged", "--wait", "--json").stdout)
    assert full["status"] == "Succeeded"
    partial = cli("runs", "start", "logged", "--start", "double", "--end", "double", "--json")
    run = json.loads(partial.stdout)
    assert [s["name"] for s in run["run_steps"]] == ["double"]
    logs = cli("runs", "logs", "logged", full["id"])
    assert logs.exit_code == 0
    assert [line for line in logs.stdout.splitlines() if line.startswith("==")] == [
        "== gen (Succeeded)",
        "== double (Succeeded)",
        "== total (Succeeded)",
    ]
    step = cli("runs", "logs", "logged", full["id"], "double")
    assert "started" in step.stdout and "reads numbers@v" in step.stdout
    assert "wrote doubled@v" in step.stdout
    unknown = cli("runs", "logs", "logged", full["id"], "nope")
    assert "no step named 'nope'" in one_line_error(unknown)


def test_failed_run_exits_1_and_retry_runs_it_again(cli: Cli) -> None:
    steps = [make_step("bad", "SELECT 'x'::INTEGER AS n", [], ["bad_out"])]
    cli("pipelines", "create", "-f", str(cli.pipeline_file("failing", steps)))
    started = cli("runs", "start", "failing", "--wait")
    assert started.exit_code == 1, started.output
    assert "bad: Failed" in started.stdout
    [run] = json.loads(cli("runs", "list", "failing", "--json").stdout)
    retried = cli("runs", "retry", "failing", run["id"], "--wait", "--json")
    assert retried.exit_code == 1
    again = json.loads(retried.stdout)
    assert (again["retry_of"], again["status"]) == (run["id"], "Failed")


def test_a_run_that_ended_before_it_is_followed_still_shows_each_step(
    cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stream of a run that has already ended starts with the whole run, not its steps'
    # events: ``runs start --wait`` on a step that fails at once met this by chance.
    steps = [make_step("bad", "SELECT 'x'::INTEGER AS n", [], ["bad_out"])]
    with Client(cli.env["HEADRACE_URL"], cli.env["HEADRACE_API_KEY"]) as hr:
        pipeline = hr.create_pipeline("ended-first", steps)
        created = hr.start_run(pipeline.id)
        hr.wait(created, timeout=60)
        ended = follow(hr, created)
    assert ended.status == "Failed"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("bad: Failed: Conversion Error"), lines
    assert f"run {ended.name}: Failed" in lines


def test_cancel_stops_a_running_run(cli: Cli) -> None:
    cli("pipelines", "create", "-f", str(cli.pipeline_file("long", [make_step("slow", ENDLESS)])))
    run = json.loads(cli("runs", "start", "long", "--json").stdout)
    cancelled = cli("runs", "cancel", "long", run["id"])
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancel requested" in cancelled.stdout
    with Client(cli.env["HEADRACE_URL"], cli.env["HEADRACE_API_KEY"]) as client:
        final = client.wait(client.get_run(run["pipeline_id"], run["id"]), timeout=60)
    assert final.status == "Cancelled"
    twice = cli("runs", "cancel", "long", run["id"])
    assert "has already ended" in one_line_error(twice)


def test_show_lists_each_check_with_its_violations(cli: Cli) -> None:
    gate = make_step("gate", "SELECT 1 AS id UNION ALL SELECT 1", [], ["gate_out"])
    gate["config"]["checks"] = [
        {"type": "unique", "column": "id"},
        {"name": "some_rows", "type": "row_count", "min": 1, "severity": "warn"},
    ]
    cli("pipelines", "create", "-f", str(cli.pipeline_file("gated", [gate])))
    started = cli("runs", "start", "gated", "--wait")
    assert started.exit_code == 1, started.output
    [run] = json.loads(cli("runs", "list", "gated", "--json").stdout)
    shown = cli("runs", "show", "gated", run["id"]).stdout
    assert "check 'unique_id' on gate_out failed: 1 violating row" in shown
    [unique] = [line for line in shown.splitlines() if "│ unique_id" in line]
    assert "error" in unique and "failed" in unique and '{"id": 1, "duplicates": 2}' in unique
    [rows] = [line for line in shown.splitlines() if "some_rows" in line]
    assert "warn" in rows and "passed" in rows


def test_plan_shows_what_start_then_does_and_reused_steps_are_marked(cli: Cli) -> None:
    cli("pipelines", "create", "-f", str(cli.pipeline_file("reused")))
    first = json.loads(cli("runs", "start", "reused", "--wait", "--json").stdout)
    planned = cli("runs", "plan", "reused")
    assert planned.exit_code == 0, planned.output
    assert "0 to run, 3 reused, 0 skipped" in planned.stdout
    assert f"same SQL and inputs as step double of run {first['id']}" in planned.stdout
    as_json = json.loads(cli("runs", "plan", "reused", "--no-cache", "--json").stdout)
    assert [s["action"] for s in as_json["steps"]] == ["run", "run", "run"]
    second = json.loads(cli("runs", "start", "reused", "--wait", "--json").stdout)
    assert second["status"] == "Succeeded"
    shown = cli("runs", "show", "reused", second["id"])
    assert shown.stdout.count("Skipped (reused)") == 3
    assert f"reused from run {first['id']} step total" in shown.stdout
    followed = cli("runs", "start", "reused", "--wait")
    assert followed.exit_code == 0, followed.output
    assert followed.stdout.count("Skipped (reused)") == 3
    listed = cli("runs", "list", "reused").stdout.splitlines()
    [row] = [line for line in listed if second["id"] in line]
    assert "3/3" in row and " 3 " in row  # all three have a result, each reused


def test_retry_of_an_old_version_says_so_and_offers_the_current_one(cli: Cli) -> None:
    steps = [
        make_step("gen", "SELECT range AS n FROM range(3)", [], ["numbers"]),
        make_step("bad", "SELECT n::VARCHAR::DATE AS d FROM numbers", ["numbers"], ["bad_out"]),
    ]
    cli("pipelines", "create", "-f", str(cli.pipeline_file("fixing", steps)))
    failed = json.loads(cli("runs", "start", "fixing", "--wait", "--json").stdout)
    assert failed["status"] == "Failed"
    steps[1]["config"]["query"] = "SELECT n + 1 AS d FROM numbers"
    with Client(cli.env["HEADRACE_URL"], cli.env["HEADRACE_API_KEY"]) as hr:
        hr.create_version(failed["pipeline_id"], steps)
    retried = cli("runs", "retry", "fixing", failed["id"])
    assert retried.exit_code == 0, retried.output
    assert f"retrying run {failed['id']}: version 1 of fixing" in retried.stdout
    assert "the pipeline has a newer version, 2" in retried.stdout
    assert f"headrace runs retry fixing {failed['id']} --current" in retried.stdout
    current = cli("runs", "retry", "fixing", failed["id"], "--current", "--wait", "--json")
    assert current.exit_code == 0, current.output
    assert "running the current version 2 of fixing" in current.stderr
    run = json.loads(current.stdout)
    assert run["pipeline_version"]["number"] == 2
    by_step = {s["name"]: s for s in run["run_steps"]}
    assert by_step["gen"]["reused_from"] == {"run_id": failed["id"], "step_name": "gen"}
    assert by_step["bad"]["status"] == "Succeeded"
