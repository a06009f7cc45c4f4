"""A pipeline file's schedules, triggers and limits through ``pipelines push``, the
``schedules`` and ``triggers`` commands, and a trigger fired by the served worker's
scheduler: what started the run shows in ``runs list``."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.cli.conftest import Cli, one_line_error
from tests.execution.support import wait_for
from tests.factories import make_step


def _upsert(cli: Cli, name: str, rows: list[dict[str, Any]]) -> None:
    r = httpx.put(
        f"{cli.env['HEADRACE_URL']}/datasets/upsert/",
        json={"dataset_name": name, "row_unique_identifier": "id", "data": rows},
        headers={"Authorization": f"Bearer {cli.env['HEADRACE_API_KEY']}"},
    )
    assert r.status_code == 200, r.text


def test_a_pushed_file_schedules_triggers_and_limits_its_pipeline(cli: Cli) -> None:
    _upsert(cli, "inbox", [{"id": 1}])
    path = cli.pipeline_file(
        "auto",
        [make_step("s", "SELECT id, $label AS label FROM inbox", ["inbox"], ["outbox"])],
        parameters=[{"name": "label", "type": "string", "default": "x"}],
        schedules=[
            {"cron": "30 2 * * *", "timezone": "Europe/Berlin", "parameters": {"label": "nightly"}}
        ],
        triggers=[{"datasets": ["inbox"], "debounce_seconds": 0}],
        max_active_runs=2,
    )
    pushed = cli("pipelines", "push", "-f", str(path))
    assert pushed.exit_code == 0, pushed.output
    assert "schedules: added 1" in pushed.stdout and "triggers: added 1" in pushed.stdout
    again = cli("pipelines", "push", "-f", str(path))
    assert "schedules:" not in again.stdout and "triggers:" not in again.stdout
    [schedule] = json.loads(cli("schedules", "list", "auto", "--json").stdout)
    assert (schedule["cron"], schedule["timezone"]) == ("30 2 * * *", "Europe/Berlin")
    assert schedule["parameters"] == {"label": "nightly"}
    assert "30 2 * * *" in cli("schedules", "list", "auto").stdout
    [trigger] = json.loads(cli("triggers", "list", "auto", "--json").stdout)
    assert trigger["datasets"] == ["inbox"] and trigger["consumed"] == {"inbox": 0}
    shown = json.loads(cli("pipelines", "show", "auto", "--json").stdout)
    assert shown["max_active_runs"] == 2

    _upsert(cli, "inbox", [{"id": 2}])

    def triggered() -> bool:
        runs = json.loads(cli("runs", "list", "auto", "--json").stdout)
        return any(r["status"] == "Succeeded" for r in runs)

    wait_for(triggered, timeout=120, what="the served worker to start and finish a triggered run")
    [run] = json.loads(cli("runs", "list", "auto", "--json").stdout)
    assert run["trigger"]["type"] == "dataset"
    assert run["trigger"]["dataset_versions"] == {"inbox": 1}
    assert run["parameters"] == {"label": "x"}
    assert "dataset inbox@v1" in cli("runs", "list", "auto").stdout

    changed = cli("schedules", "set", "auto", schedule["id"], "--disable")
    assert changed.exit_code == 0, changed.output
    assert json.loads(cli("schedules", "list", "auto", "--json").stdout)[0]["enabled"] is False
    assert "422" in one_line_error(cli("schedules", "add", "auto", "61 * * * *"))
    assert cli("triggers", "delete", "auto", trigger["id"]).exit_code == 0
    assert cli("schedules", "delete", "auto", schedule["id"]).exit_code == 0
    assert json.loads(cli("triggers", "list", "auto", "--json").stdout) == []
