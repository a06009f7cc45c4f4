"""Server log lines: the run id of lines about a run, and the JSON format."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid

from headrace.logs import JsonFormatter, RunIdFilter


def _record(msg: str, *args: object) -> logging.LogRecord:
    record = logging.LogRecord("headrace.step", logging.INFO, __file__, 1, msg, args, None)
    RunIdFilter().filter(record)
    return record


def test_the_run_id_is_read_from_the_executors_messages() -> None:
    run_id = uuid.uuid4()
    assert _record("run %s step %s: %s", run_id, "gen", "started").run_id == str(run_id)
    assert _record("step %s of run %s failed", "gen", run_id).run_id == str(run_id)
    assert _record("100%% of run %s", run_id).run_id == str(run_id)
    assert _record("worker %s started", "w1").run_id is None


def test_json_lines_carry_the_run_id() -> None:
    run_id = uuid.uuid4()
    line = json.loads(JsonFormatter().format(_record("run %s Succeeded", run_id)))
    assert line["run_id"] == str(run_id)
    assert line["message"] == f"run {run_id} Succeeded"
    assert line["level"] == "INFO" and line["logger"] == "headrace.step"
    assert "run_id" not in json.loads(JsonFormatter().format(_record("nothing about runs")))


def test_importing_headrace_leaves_the_logging_of_libraries_alone() -> None:
    """Only ``configure`` (a process's start-up) quiets sqlglot; an import changes nothing."""
    code = (
        "import logging, sys; import headrace.domain.sql, headrace.api.app; "
        "before = logging.getLogger('sqlglot').level; "
        "from headrace.logs import configure; from headrace.settings import Settings; "
        "configure(Settings()); print(before, logging.getLogger('sqlglot').level)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [str(logging.NOTSET), str(logging.ERROR)]
