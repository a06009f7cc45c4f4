"""Run parameters: declared on a version with a type, given a value per run, bound as typed
values in the step's SQL (``$name``), never spliced into its text.

A run stores its values as JSON (a date or timestamp as ISO 8601 text) so the run record
reads the same in the API, the CLI and whatever fingerprints a step; ``typed`` turns them into
the Python values DuckDB binds. ``$scheduled_for`` is headrace's own: every step may use it,
and it is the tick's time on a scheduled run, NULL on any other.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from headrace.domain.problems import Loc, Problem

PARAMETER_TYPES = ("string", "integer", "number", "boolean", "date", "timestamp")
SCHEDULED_FOR = "scheduled_for"
# What ``$name`` may be: DuckDB's named parameters are identifiers.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_PARAMETERS = 100


@dataclass(frozen=True)
class Parameter:
    """One declared parameter; ``has_default`` tells a default of null from none at all."""

    name: str
    type: str
    default: Any = None
    has_default: bool = False

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.has_default:
            found["default"] = self.default
        return found

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Parameter:
        return cls(
            name=str(raw["name"]),
            type=str(raw["type"]),
            default=raw.get("default"),
            has_default="default" in raw,
        )


class BadValue(ValueError):
    """A value that is not of its parameter's type (the message says what was expected)."""


def _timestamp(value: str) -> dt.datetime:
    found = dt.datetime.fromisoformat(value)
    if found.tzinfo is None:
        raise BadValue("a timestamp needs a UTC offset, e.g. 2024-03-10T02:30:00+00:00")
    return found


def normalise(type_: str, value: Any) -> Any:
    """The JSON form of ``value`` as a ``type_`` parameter (null stays null); BadValue when
    it is not one."""
    if value is None:
        return None
    if type_ == "string" and isinstance(value, str):
        return value
    if type_ == "integer" and isinstance(value, int) and not isinstance(value, bool):
        if not -(2**63) <= value < 2**63:
            raise BadValue("expected an integer that fits in 64 bits")
        return value
    if type_ == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise BadValue("expected a date as YYYY-MM-DD") from None
    if type_ == "timestamp" and isinstance(value, str):
        try:
            return _timestamp(value).isoformat()
        except BadValue:
            raise
        except ValueError:
            raise BadValue("expected an ISO 8601 timestamp with a UTC offset") from None
    raise BadValue(f"expected a {type_}, got {_json_kind(value)}")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def check_declared(parameters: Sequence[Parameter], loc: Loc) -> list[Problem]:
    """Every problem of a version's declarations: names, duplicates, types, defaults."""
    problems: list[Problem] = []
    if len(parameters) > MAX_PARAMETERS:
        problems.append(
            Problem(loc, f"a version may declare at most {MAX_PARAMETERS} parameters", "too_many")
        )
    seen: set[str] = set()
    for index, p in enumerate(parameters):
        at = (*loc, index)
        if not _NAME.match(p.name):
            problems.append(
                Problem(
                    (*at, "name"),
                    f"parameter name {p.name!r} must be a letter or '_' then letters, digits, '_'",
                    "parameter.bad_name",
                )
            )
        elif p.name == SCHEDULED_FOR:
            problems.append(
                Problem(
                    (*at, "name"),
                    f"${SCHEDULED_FOR} is headrace's own (a scheduled run's tick time)",
                    "parameter.reserved",
                )
            )
        elif p.name in seen:
            problems.append(
                Problem((*at, "name"), f"parameter {p.name!r} is declared twice", "parameter.twice")
            )
        seen.add(p.name)
        if p.type not in PARAMETER_TYPES:
            problems.append(
                Problem(
                    (*at, "type"),
                    f"unknown type {p.type!r}; one of {', '.join(PARAMETER_TYPES)}",
                    "parameter.bad_type",
                )
            )
        elif p.has_default:
            try:
                normalise(p.type, p.default)
            except BadValue as err:
                msg = f"default of {p.name!r}: {err}"
                problems.append(Problem((*at, "default"), msg, "parameter.bad_value"))
    return problems


def resolve(
    parameters: Sequence[Parameter], given: Mapping[str, Any], loc: Loc
) -> tuple[dict[str, Any], list[Problem]]:
    """The run's values (``given`` over the defaults, in JSON form) and every problem: an
    unknown name, a value of the wrong type, a parameter with no default left out."""
    declared = {p.name: p for p in parameters}
    problems = [
        Problem(
            (*loc, name),
            f"unknown parameter {name!r}"
            + (f"; the version declares {', '.join(sorted(declared))}" if declared else ""),
            "parameter.unknown",
        )
        for name in given
        if name not in declared
    ]
    values: dict[str, Any] = {}
    for p in parameters:
        if p.name in given:
            try:
                values[p.name] = normalise(p.type, given[p.name])
            except BadValue as err:
                problems.append(Problem((*loc, p.name), str(err), "parameter.bad_value"))
        elif p.has_default:
            values[p.name] = normalise(p.type, p.default)
        else:
            problems.append(
                Problem((*loc, p.name), f"parameter {p.name!r} has no default; give it", "missing")
            )
    return values, problems


def typed(
    parameters: Sequence[Parameter],
    values: Mapping[str, Any],
    scheduled_for: dt.datetime | None,
) -> dict[str, Any]:
    """The values as DuckDB binds them (a date as ``datetime.date``, a timestamp aware), with
    ``scheduled_for``; a value whose parameter the version no longer declares is left out."""
    found: dict[str, Any] = {SCHEDULED_FOR: scheduled_for}
    for p in parameters:
        value = values.get(p.name)
        if value is not None and p.type == "date":
            value = dt.date.fromisoformat(value)
        elif value is not None and p.type == "timestamp":
            value = _timestamp(value)
        elif value is not None and p.type == "number":
            value = float(value)
        found[p.name] = value
    return found


def parse_cli_value(type_: str, text: str) -> Any:
    """A value typed on a command line (``--param n=3``) as the JSON the API takes."""
    if type_ == "integer":
        try:
            return int(text)
        except ValueError:
            raise BadValue(f"expected an integer, got {text!r}") from None
    if type_ == "number":
        try:
            return float(text)
        except ValueError:
            raise BadValue(f"expected a number, got {text!r}") from None
    if type_ == "boolean":
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise BadValue(f"expected true or false, got {text!r}")
    return text
