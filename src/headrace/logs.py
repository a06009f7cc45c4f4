"""Log lines of the server and workers: plain text or one JSON object per line
(``HEADRACE_LOG_FORMAT``), with the run id as a field of every line about a run."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

from headrace.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# A %-style conversion specifier, as logging's own formatting reads them.
_SPEC = re.compile(r"%(?:\(\w+\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")


def _run_id(record: logging.LogRecord) -> str | None:
    """The argument that follows "run " in the message: the executor logs ``"run %s …"``."""
    if not isinstance(record.msg, str) or not isinstance(record.args, tuple):
        return None
    index = 0
    for spec in _SPEC.finditer(record.msg):
        if spec.group() == "%%":
            continue
        if record.msg[: spec.start()].endswith("run ") and index < len(record.args):
            return str(record.args[index])
        index += 1
    return None


class RunIdFilter(logging.Filter):
    """Sets ``record.run_id``: given with ``extra={"run_id": …}``, or read from the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "run_id", None) is None:
            record.run_id = _run_id(record)
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str | None = None) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.process is not None:
            line["process"] = self.process
        run_id = getattr(record, "run_id", None)
        if run_id is not None:
            line["run_id"] = run_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(settings: Settings, process: str | None = None) -> None:
    """Send every logger's lines (uvicorn's too) to stderr in the configured format; each
    line names ``process`` when given (one of several processes of a server)."""
    handler = logging.StreamHandler()
    handler.addFilter(RunIdFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter(process))
    else:
        named = TEXT_FORMAT.replace("%(name)s", f"[{process}] %(name)s") if process else TEXT_FORMAT
        handler.setFormatter(logging.Formatter(named))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # sqlglot warns when it falls back to a raw Command (LOAD, CALL, ...); those statements
    # are reported to the user as problems, so the warning is noise.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
