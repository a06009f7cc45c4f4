"""Rows sent to an upsert, checked against a dataset's columns before anything is written.

Column types are DuckDB type names (``BIGINT``, ``DECIMAL(18,2)``, ``TIMESTAMP WITH TIME
ZONE``, ``INTEGER[]`` …), the vocabulary the storage layer reads and casts with. Every problem
is collected, located as ``("body", "data", <row index>, <field>)``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Mapping, Sequence
from typing import Any

from headrace.domain.problems import Problem

_INT_BITS = {
    "TINYINT": (8, True),
    "SMALLINT": (16, True),
    "INTEGER": (32, True),
    "BIGINT": (64, True),
    "HUGEINT": (128, True),
    "UTINYINT": (8, False),
    "USMALLINT": (16, False),
    "UINTEGER": (32, False),
    "UBIGINT": (64, False),
    "UHUGEINT": (128, False),
}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_TEXT = {"VARCHAR", "BLOB", "UUID", "TIME", "INTERVAL", "JSON"}


def _int_fits(value: Any, bits: int, signed: bool) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return bool(low <= value <= high)


def _decimal_fits(value: Any, precision: int, scale: int) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return False
    try:
        number = decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        return False
    if not number.is_finite():
        return False
    whole = abs(int(number))
    return len(str(whole)) <= precision - scale if whole else True


def _iso(value: Any, parse: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse(value)
    except ValueError:
        return False
    return True


def fits(value: Any, type_name: str) -> bool:
    """Whether a JSON value can be stored in a column of ``type_name`` without loss."""
    if value is None:
        return True
    t = type_name.strip().upper()
    if t.endswith("[]"):
        return isinstance(value, list) and all(fits(v, t[:-2]) for v in value)
    if t in _INT_BITS:
        return _int_fits(value, *_INT_BITS[t])
    if t in ("FLOAT", "DOUBLE", "REAL"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if m := _DECIMAL.match(t):
        return _decimal_fits(value, int(m.group(1)), int(m.group(2)))
    if t == "BOOLEAN":
        return isinstance(value, bool)
    if t in _TEXT or t.startswith("ENUM"):
        return isinstance(value, str)
    if t == "DATE":
        return _iso(value, dt.date.fromisoformat)
    if t.startswith("TIMESTAMP"):
        return _iso(value, dt.datetime.fromisoformat)
    if t.startswith(("STRUCT", "MAP")):
        return isinstance(value, dict)
    return True  # a type we do not know in detail: DuckDB's cast decides


def _describe(value: Any) -> str:
    kind = type(value).__name__
    return {
        "str": "a string",
        "int": "an integer",
        "float": "a number",
        "bool": "a boolean",
        "list": "a list",
        "dict": "an object",
    }.get(kind, kind)


def check_upsert(
    rows: Sequence[Mapping[str, Any]],
    key: str,
    columns: Mapping[str, str] | None,
    *,
    strict: bool,
) -> list[Problem]:
    """Every problem of an upsert: the key (present, not null, unique) always; with
    ``strict``, also fields that are not ``columns`` and values that do not fit their type.
    ``columns`` is None when the dataset has no schema yet."""
    problems: list[Problem] = []
    if not rows:
        return [Problem(("body", "data"), "data must hold at least one row", "rows.empty")]
    if columns is not None and key not in columns:
        problems.append(
            Problem(
                ("body", "row_unique_identifier"),
                f"{key!r} is not a column of the dataset",
                "key.unknown_column",
            )
        )
    seen: dict[Any, int] = {}
    for index, row in enumerate(rows):
        where = ("body", "data", index)
        if row.get(key) is None:
            problems.append(
                Problem(
                    (*where, key), f"row {index} has no value for the key {key!r}", "key.missing"
                )
            )
        else:
            marker = repr(row[key])
            if marker in seen:
                problems.append(
                    Problem(
                        (*where, key),
                        f"row {index} repeats the key {row[key]!r} of row {seen[marker]}",
                        "key.duplicate",
                    )
                )
            seen.setdefault(marker, index)
        if not strict or columns is None:
            continue
        for name, value in row.items():
            if name not in columns:
                problems.append(
                    Problem(
                        (*where, name), f"{name!r} is not a column of the dataset", "field.unknown"
                    )
                )
            elif not fits(value, columns[name]):
                problems.append(
                    Problem(
                        (*where, name),
                        f"{_describe(value)} does not fit column {name!r} of type {columns[name]}",
                        "field.type",
                    )
                )
    return problems
