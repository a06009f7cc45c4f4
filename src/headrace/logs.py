"""Log lines of the server and workers: plain text or one JSON object per line
(``HEADRACE_LOG_FORMAT``), carrying the run and step they are about as fields.

The code that works on a run or a step says so once, around the work:
``with bound(run_id=run.id): …`` and ``with bound(step=name): …``; every line logged inside,
by any logger, carries the fields (a ``ContextVar``, so concurrent runs on other threads or
tasks keep theirs). A new thread starts with no fields: bind inside the thread's target.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import IO
from urllib.parse import unquote_plus

from headrace.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
FIELDS = ("run_id", "step")  # the bound fields a line may carry, in the order shown

_bound: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "headrace_log_fields", default=MappingProxyType({})
)


@contextmanager
def bound(*, run_id: object = None, step: str | None = None) -> Iterator[None]:
    """Every line logged inside the block carries ``run_id`` and ``step`` (those given; an
    enclosing block's stay unless given again)."""
    given = {"run_id": run_id, "step": step}
    fields = {**_bound.get(), **{k: str(v) for k, v in given.items() if v is not None}}
    token = _bound.set(MappingProxyType(fields))
    try:
        yield
    finally:
        _bound.reset(token)


class BoundFields(logging.Filter):
    """Sets ``record.run_id`` and ``record.step`` from the enclosing ``bound`` blocks (an
    ``extra={"run_id": …}`` given to the call wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _bound.get()
        for name in FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, fields.get(name))
        return True


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT``, then the bound fields as ``name=value``."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{n}={v}" for n in FIELDS if (v := getattr(record, n, None)) is not None]
        if not fields:
            return line
        # After the message's first line: an exception's traceback follows on the next ones.
        first, newline, rest = line.partition("\n")
        return f"{first} [{' '.join(fields)}]{newline}{rest}"


# The API's own query parameters, whose values say nothing secret; any other's value (a key
# sent as ?api_key=, a token a proxy appended) is not written to the log.
_PLAIN_PARAMETERS = frozenset(
    {"limit", "cursor", "offset", "version", "version_id", "status", "format", "check_schema"}
)


def redact_query(target: str) -> str:
    """``target`` (a path with its query string) with the value of every parameter the API
    does not define replaced by ``***``."""
    path, mark, query = target.partition("?")
    if not mark:
        return target
    parts = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        shown = value if unquote_plus(name) in _PLAIN_PARAMETERS else "***"
        parts.append(f"{name}{equals}{shown}" if equals else name)
    return f"{path}?{'&'.join(parts)}"


class RedactQueries(logging.Filter):
    """Redacts the request target of uvicorn's access lines (``redact_query``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            record.args = (*args[:2], redact_query(str(args[2])), *args[3:])
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
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def handler(
    settings: Settings, process: str | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """A handler writing lines in the configured format to ``stream`` (stderr by default);
    each line names ``process`` when given (one of several processes of a server)."""
    out: logging.StreamHandler[IO[str]] = logging.StreamHandler(stream or sys.stderr)
    out.addFilter(BoundFields())
    out.addFilter(RedactQueries())
    if settings.log_format == "json":
        out.setFormatter(JsonFormatter(process))
    else:
        named = TEXT_FORMAT.replace("%(name)s", f"[{process}] %(name)s") if process else TEXT_FORMAT
        out.setFormatter(TextFormatter(named))
    return out


def configure(settings: Settings, process: str | None = None) -> None:
    """Send every logger's lines (uvicorn's too) to stderr in the configured format."""
    root = logging.getLogger()
    root.handlers[:] = [handler(settings, process)]
    root.setLevel(settings.log_level.upper())
    # sqlglot warns when it falls back to a raw Command (LOAD, CALL, ...); those statements
    # are reported to the user as problems, so the warning is noise.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
