"""``headrace webhooks …`` against a real server, whose worker delivers a run's events to a
loopback receiver that verifies their signatures."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli, one_line_error
from tests.execution.support import wait_for
from tests.services.receiver import Receiver


def test_a_webhook_made_from_the_cli_is_told_of_a_run_and_logs_its_deliveries(cli: Cli) -> None:
    """The run's start, each version its steps write, and its end, in that order."""
    with Receiver() as receiver:
        made = json.loads(
            cli(
                *("webhooks", "create", receiver.url, "--description", "ci", "--json"),
                *("-e", "run.started", "-e", "run.succeeded", "-e", "dataset.version"),
            ).stdout
        )
        receiver.secrets.append(made["secret"])
        listed = cli("webhooks", "list")
        assert made["id"] in listed.stdout and "run.succeeded" in listed.stdout
        assert made["secret"] not in listed.stdout
        cli("pipelines", "create", "-f", str(cli.pipeline_file("hooked")))
        run = cli("runs", "start", "hooked", "--wait")
        assert run.exit_code == 0, run.output
        wait_for(lambda: len(receiver.received) == 5, what="every event delivered")
        shown = cli("webhooks", "deliveries", made["id"])
        assert shown.stdout.count("delivered") == 5
        logged = json.loads(cli("webhooks", "deliveries", made["id"], "--json").stdout)
    assert all(r.verified for r in receiver.received)
    messages = [r.message for r in receiver.received]
    assert [m["type"] for m in messages] == [
        "run.started",
        *["dataset.version"] * 3,
        "run.succeeded",
    ]
    written = [
        (m["data"]["name"], m["data"]["step_name"], m["data"]["version"]) for m in messages[1:4]
    ]
    assert written == [("numbers", "gen", 0), ("doubled", "double", 0), ("total", "total", 0)]
    assert {m["data"]["run_id"] for m in messages} == {messages[0]["data"]["run_id"]}
    assert sorted(d["event"] for d in logged) == [
        *["dataset.version"] * 3,
        "run.started",
        "run.succeeded",
    ]
    assert all(d["attempts"] == 1 and d["status_code"] == 204 for d in logged)
    assert cli("webhooks", "delete", made["id"]).exit_code == 0
    assert "there is no webhook" in one_line_error(cli("webhooks", "deliveries", made["id"]))


def test_bad_webhooks_are_refused_with_every_reason(cli: Cli) -> None:
    bad = one_line_error(cli("webhooks", "create", "ftp://x/", "-e", "run.failed"))
    assert "http:// or https://" in bad and "422" in bad
    assert "--event must be given" in one_line_error(cli("webhooks", "create", "https://x/"))
    assert "--event must be given" in one_line_error(
        cli("webhooks", "create", "https://x/", "-e", "run.exploded")
    )
