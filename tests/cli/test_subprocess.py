"""The ``headrace`` command as users run it: a separate process against ``headrace serve``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml
from typer.testing import CliRunner

from headrace.cli.main import app
from headrace.cli.pipeline_file import load
from headrace.runtime import Runtime
from tests.factories import generated_steps
from tests.live import Served, free_port, headrace_command, serve


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        headrace_command(*args), env=env, capture_output=True, text=True, timeout=120
    )


def _env(url: str, key: str, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HEADRACE_URL": url,
        "HEADRACE_API_KEY": key,
        "XDG_CONFIG_HOME": str(home),
        "COLUMNS": "250",
    }


def _pipeline_file(folder: Path, name: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "steps": generated_steps()}))
    return path


def test_pipelines_runs_and_keys_as_a_subprocess(served: Served, tmp_path: Path) -> None:
    env = _env(served.url, served.new_org_key(), tmp_path)
    path = str(_pipeline_file(tmp_path, "sub"))
    assert _run(env, "pipelines", "push", "-f", path).returncode == 0
    started = _run(env, "runs", "start", "sub", "--wait")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "total: Succeeded" in started.stdout
    listed = _run(env, "runs", "list", "sub")
    assert listed.returncode == 0 and "Succeeded" in listed.stdout
    made = json.loads(_run(env, "keys", "create", "k", "--json").stdout)
    assert _run(env, "keys", "revoke", made["id"]).returncode == 0


def test_errors_are_one_line_as_a_subprocess(served: Served, tmp_path: Path) -> None:
    env = _env(served.url, served.new_org_key(), tmp_path)
    cases = {
        ("pipelines", "show", "nope"): "there is no pipeline 'nope'",
    }
    for args, expected in cases.items():  # one process each: what a user's shell sees
        done = _run(env, *args)
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
    wrong = _run({**env, "HEADRACE_API_KEY": "hr_wrong"}, "datasets", "list")
    assert wrong.returncode == 2 and "[401 unauthorized]" in wrong.stderr
    down = _run({**env, "HEADRACE_URL": f"http://127.0.0.1:{free_port()}"}, "keys", "list")
    assert down.returncode == 2 and down.stderr.startswith("error: cannot reach")
    assert "Traceback" not in wrong.stderr + down.stderr


def test_step_logs_outlive_the_worker(runtime: Runtime, tmp_path: Path) -> None:
    """A worker runs the pipeline and is gone; a server that runs no worker at all serves
    its step logs to ``headrace runs logs``."""
    from headrace.cli.context import open_database
    from headrace.services import keys, pipelines, runs
    from headrace.services.executors import open_worker
    from headrace.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", run_worker=False)
    db = open_database(settings, migrate=True)
    org = keys.create_org(db, "logs")
    who = keys.authenticate(db, org.secret, None)
    file = load(_pipeline_file(tmp_path, "p"))
    pipeline = pipelines.create(db, who, file.name, "", file.steps).pipeline
    view = runs.create(db, settings, who, pipeline.id, start=None, end=None, version_id=None)
    with Runtime(settings, db, steps=runtime.steps) as own:
        worker = open_worker(own)
        assert worker.claim(only=view.run.id) == view.run.id
        assert worker.execute(view.run.id) == "Succeeded"
    db.dispose()
    with serve(settings.data_dir, HEADRACE_RUN_WORKER="false") as server:
        env = {"HEADRACE_URL": server.url, "HEADRACE_API_KEY": org.secret}
        logs = CliRunner().invoke(app, ["runs", "logs", "p", str(view.run.id)], env=env)
    assert logs.exit_code == 0, logs.output
    text = logs.stdout
    assert "== gen (Succeeded)" in text and "== total (Succeeded)" in text
    assert "reads doubled@v" in text and "wrote total@v" in text and ": 1 rows" in text
    assert "succeeded in" in text
