"""Server log lines: the run id of lines about a run, and the JSON format."""

from __future__ import annotations

import json
import logging
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
