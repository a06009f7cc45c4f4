"""DuckDB's errors from a step, restated in the user's terms: their SQL, their dataset names.

A step's SQL runs wrapped in statements of ours (a view, a ``COPY … TO '<write folder>'``), and
DuckDB quotes whichever statement failed, with a caret (``LINE 1: …``): headrace's own SQL, the
warehouse path and internal ids. The sandbox sets ``errors_as_json``, so each error arrives as
its message plus the position it points at; the position is mapped back into the user's SQL
when it falls there and quoted from it, else no SQL is quoted at all. Known paths (write
folders, input files, the spill folder) are replaced by what they are to the user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

_CONTEXT = re.compile(r"\n+LINE \d+:.*", re.DOTALL)  # DuckDB's quote of the failed statement
_LOCATION = re.compile(r"\[(\d+),(\d+)\]")
_WIDTH = 100  # a quoted line longer than this is shortened around the caret


@dataclass(frozen=True)
class UserSql:
    """Where the user's SQL sits in the statement that ran: ``text`` from offset ``start``."""

    text: str
    start: int


def _quote(sql: str, at: int, length: int) -> str:
    """The line of ``sql`` holding offset ``at``, and a caret under ``length`` characters."""
    line_start = sql.rfind("\n", 0, at) + 1
    line_end = sql.find("\n", at)
    line = sql[line_start : len(sql) if line_end == -1 else line_end]
    column = at - line_start
    if len(line) > _WIDTH:
        left = max(0, column - _WIDTH // 2)
        shown = line[left : left + _WIDTH]
        head = "..." if left else ""
        tail = "..." if left + _WIDTH < len(line) else ""
        line, column = head + shown + tail, column - left + len(head)
    label = f"LINE {sql.count(chr(10), 0, at) + 1}: "
    caret = "^" * max(1, min(length, len(line) - column))
    return f"\n\n{label}{line}\n{' ' * (len(label) + column)}{caret}"


def quote_at(sql: str, at: int, length: int) -> str:
    """Two lines quoting ``sql`` at offset ``at`` with a caret under ``length`` characters,
    as a step's error quotes its SQL."""
    return _quote(sql, at, length)


def restate(text: str, user: UserSql | None, paths: Mapping[str, str]) -> str:
    """DuckDB's error message ``text`` with its position quoted from the user's SQL when it
    points there (nothing quoted otherwise) and each of ``paths`` replaced by its name."""
    kind, _, rest = text.partition(": ")
    try:
        fields = json.loads(rest)
    except ValueError:
        fields = None
    if isinstance(fields, dict) and "exception_message" in fields:
        message = f"{kind}: {fields['exception_message']}"
        location = _LOCATION.fullmatch(str(fields.get("location", "")))
        if user is not None and location is not None:
            at = int(location.group(1)) - user.start
            if 0 <= at < len(user.text):
                message += _quote(user.text, at, int(location.group(2)))
    else:
        message = _CONTEXT.sub("", text)
    for path in sorted(paths, key=len, reverse=True):  # a folder before a file inside it
        message = message.replace(path, paths[path])
    return message
