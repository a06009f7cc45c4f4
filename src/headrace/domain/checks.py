"""Checks on a step's output: what a check says, what is wrong with one, the SQL that finds
its violating rows, and what a run records of it.

A check is judged on the output as written and before it is committed, so a failing
``error`` check keeps bad data from ever becoming a version anyone reads. Every check type
comes down to one query returning the violating rows (for ``row_count``: the one row of the
count when it is out of bounds), so the runner counts and samples them all alike. Values
given in a check (``accepted_values``) are bound as parameters, never spliced into SQL; a
check's own SQL (``expression``, ``query``) is validated like a step's SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from headrace.domain.names import check_text
from headrace.domain.problems import Loc, Problem

CHECK_TYPES = ("not_null", "unique", "accepted_values", "row_count", "expression", "sql")
SEVERITIES = ("error", "warn")
MAX_SAMPLE = 20  # violating rows kept per check result
_NEEDS_COLUMNS = ("not_null", "unique", "accepted_values")


@dataclass(frozen=True)
class Check:
    """One check of a step's config, as sent (``column`` or ``columns``; ``dataset`` None:
    the step's only output)."""

    type: str
    name: str | None = None
    dataset: str | None = None
    column: str | None = None
    columns: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    min: int | None = None
    max: int | None = None
    expression: str | None = None
    query: str | None = None
    severity: str = "error"

    def to_dict(self) -> dict[str, object]:
        """The check as stored and shown: the fields that were given."""
        out: dict[str, object] = {"type": self.type}
        for key in ("name", "dataset", "column", "min", "max", "expression", "query"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.columns:
            out["columns"] = list(self.columns)
        if self.values:
            out["values"] = list(self.values)
        out["severity"] = self.severity
        return out

    def key_columns(self) -> tuple[str, ...]:
        return (self.column,) if self.column is not None else self.columns

    def target(self, outputs: Sequence[str]) -> str:
        """The output dataset the check reads (its own, else the step's only one)."""
        if self.dataset is not None:
            return self.dataset
        return outputs[0] if len(outputs) == 1 else ""

    def label(self, outputs: Sequence[str]) -> str:
        """Its name, or one made of its type and columns (``not_null_sale_id``)."""
        if self.name:
            return self.name
        parts = [self.type, *self.key_columns()]
        if self.dataset is not None and len(outputs) > 1:
            parts.insert(1, self.dataset)
        return "_".join(parts)


def check_from_dict(raw: Mapping[str, Any]) -> Check:
    """Rebuild a stored check (validated when its version was made)."""
    columns = raw.get("columns") or []
    values = raw.get("values") or []
    return Check(
        type=str(raw["type"]),
        name=raw.get("name"),
        dataset=raw.get("dataset"),
        column=raw.get("column"),
        columns=tuple(str(c) for c in columns),
        values=tuple(values),
        min=raw.get("min"),
        max=raw.get("max"),
        expression=raw.get("expression"),
        query=raw.get("query"),
        severity=str(raw.get("severity", "error")),
    )


def labels(checks: Sequence[Check], outputs: Sequence[str]) -> list[str]:
    """Each check's name in results: its own, else one made of its type and columns, with
    ``_2``, ``_3``… after the first of a kind (two unnamed expression checks are fine)."""
    taken = {c.name for c in checks if c.name}
    out = []
    for check in checks:
        label = check.label(outputs)
        if not check.name:
            base, n = label, 1
            while label in taken:
                n += 1
                label = f"{base}_{n}"
        taken.add(label)
        out.append(label)
    return out


def validate_checks(checks: Sequence[Check], outputs: Sequence[str], loc: Loc) -> list[Problem]:
    """Every problem of a step's checks (``loc``: the step's ``checks`` field), their SQL
    included."""
    problems: list[Problem] = []
    names: set[str] = set()
    for index, check in enumerate(checks):
        here: Loc = (*loc, index)
        found = _check_fields(check, outputs, here)
        problems += found
        if check.name is not None and check.name in names:
            problems.append(
                Problem(
                    (*here, "name"),
                    f"two checks of the step are named {check.name!r}",
                    "check.duplicate_name",
                )
            )
        if check.name is not None:
            names.add(check.name)
        if not found:
            problems += _check_sql(check, outputs, here)
    return problems


_MAX_TEXT = 1_000_000  # a check's SQL, like a step's, is stored; names are far shorter
_MAX_COUNT = 2**63 - 1  # row_count bounds are BIGINTs


def _check_texts(check: Check, loc: Loc) -> list[Problem]:
    """Text the store cannot hold (control characters, lone surrogates) or too long."""
    problems: list[Problem] = []
    for field_name in ("name", "dataset", "column", "expression", "query"):
        value = getattr(check, field_name)
        if value is not None:
            limit = _MAX_TEXT if field_name in ("expression", "query") else 255
            problems += check_text(value, (*loc, field_name), f"the check's {field_name}", limit)
    for field_name, values in (("columns", check.columns), ("values", check.values)):
        for i, value in enumerate(values):
            if isinstance(value, str):
                problems += check_text(
                    value, (*loc, field_name, i), f"the check's {field_name}", 255
                )
    for field_name in ("min", "max"):
        value = getattr(check, field_name)
        if value is not None and not 0 <= value <= _MAX_COUNT:
            problems.append(
                Problem(
                    (*loc, field_name),
                    f"{field_name} must be a row count, 0 or more",
                    "check.bounds",
                )
            )
    return problems


def _check_fields(check: Check, outputs: Sequence[str], loc: Loc) -> list[Problem]:
    problems: list[Problem] = _check_texts(check, loc)

    def bad(field_name: str, msg: str, type_: str) -> None:
        problems.append(Problem((*loc, field_name), msg, type_))

    if check.type not in CHECK_TYPES:
        bad(
            "type",
            f"check type {check.type!r} is not known; use one of {', '.join(CHECK_TYPES)}",
            "check.type",
        )
        return problems
    if check.severity not in SEVERITIES:
        bad(
            "severity",
            f"severity {check.severity!r} is not known; use error or warn",
            "check.severity",
        )
    if check.dataset is None and len(outputs) > 1:
        bad(
            "dataset",
            "the step has several outputs: say which one the check reads",
            "check.dataset_missing",
        )
    elif check.dataset is not None and check.dataset not in outputs:
        bad(
            "dataset",
            f"dataset {check.dataset!r} is not an output of the step",
            "check.dataset_unknown",
        )
    if check.type in _NEEDS_COLUMNS:
        if check.column is not None and check.columns:
            bad("columns", "give column or columns, not both", "check.columns")
        elif not check.key_columns() or any(not c for c in check.key_columns()):
            bad("column", f"a {check.type} check needs a column", "check.column_missing")
    if check.type == "accepted_values" and not check.values:
        bad(
            "values", "an accepted_values check needs the values it accepts", "check.values_missing"
        )
    elif any(not isinstance(v, (str, int, float, bool)) for v in check.values):
        bad("values", "accepted values are strings, numbers or booleans", "check.values")
    if check.type == "row_count":
        if check.min is None and check.max is None:
            bad("min", "a row_count check needs min, max or both", "check.bounds_missing")
        elif check.min is not None and check.max is not None and check.min > check.max:
            bad("max", f"max {check.max} is below min {check.min}", "check.bounds")
    for field_name, needed in (("expression", "expression"), ("query", "sql")):
        if check.type == needed and not (getattr(check, field_name) or "").strip():
            msg = f"a {needed} check needs its {field_name}"
            bad(field_name, msg, f"check.{field_name}_missing")
    return problems


def _check_sql(check: Check, outputs: Sequence[str], loc: Loc) -> list[Problem]:
    """A check's own SQL is analysed like a step's: one SELECT, allowed functions only,
    reading the step's outputs and nothing else."""
    if check.type not in ("expression", "sql"):
        return []
    from headrace.domain.sql import analyse, analyse_expression

    if check.type == "expression":
        field_name, text = "expression", check.expression or ""
        analysis = analyse_expression(text, check.target(outputs))
    else:
        field_name, text = "query", check.query or ""
        analysis = analyse(text, 1)
    problems = [Problem((*loc, field_name), msg, type_) for msg, type_ in analysis.problems]
    for name in sorted(analysis.parameters):
        problems.append(
            Problem(
                (*loc, field_name),
                f"a check cannot use ${name}: it judges the output alone, without the run's "
                "parameters",
                "check.parameter",
            )
        )
    for table in sorted(analysis.reads - set(outputs)):
        problems.append(
            Problem(
                (*loc, field_name),
                f"a check reads only the step's outputs, not {table!r}",
                "check.undeclared_input",
            )
        )
    return problems


def quote(name: str) -> str:
    """``name`` as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class CheckQuery:
    """What the step's process runs for one check: ``sql`` returns the violating rows, with
    ``params`` bound; the user's own SQL, when there is some, sits in it from ``user_start``."""

    name: str
    type: str
    dataset: str
    severity: str
    sql: str
    params: tuple[Any, ...] = ()
    user_text: str | None = None
    user_start: int = 0


def check_queries(checks: Sequence[Check], outputs: Sequence[str]) -> list[CheckQuery]:
    """What the step's process runs for each of a step's valid ``checks``."""
    return [
        check_query(c, outputs, name)
        for c, name in zip(checks, labels(checks, outputs), strict=True)
    ]


def check_query(check: Check, outputs: Sequence[str], name: str) -> CheckQuery:
    """The query of violating rows of a valid ``check`` of a step writing ``outputs``."""
    dataset = check.target(outputs)
    table = quote(dataset)
    cols = [quote(c) for c in check.key_columns()]
    params: tuple[Any, ...] = ()
    user_text: str | None = None
    user_start = 0
    if check.type == "not_null":
        sql = f"SELECT * FROM {table} WHERE " + " OR ".join(f"{c} IS NULL" for c in cols)
    elif check.type == "unique":
        keys = ", ".join(cols)
        present = " AND ".join(f"{c} IS NOT NULL" for c in cols)
        sql = (
            f"SELECT {keys}, count(*) AS duplicates FROM {table} WHERE {present} "
            f"GROUP BY {keys} HAVING count(*) > 1"
        )
    elif check.type == "accepted_values":
        marks = ", ".join("?" for _ in check.values)
        sql = f"SELECT * FROM {table} WHERE {cols[0]} IS NOT NULL AND {cols[0]} NOT IN ({marks})"
        params = tuple(check.values)
    elif check.type == "row_count":
        bounds = []
        if check.min is not None:
            bounds.append(f"count(*) < {int(check.min)}")
        if check.max is not None:
            bounds.append(f"count(*) > {int(check.max)}")
        sql = f"SELECT count(*) AS row_count FROM {table} HAVING " + " OR ".join(bounds)
    elif check.type == "expression":
        # Like dbt's expression_is_true: a row violates when the expression is false; a
        # NULL result passes (a not_null check says whether NULLs are wanted).
        head = f"SELECT * FROM {table} WHERE NOT (\n"
        user_text, user_start = check.expression or "", len(head)
        sql = f"{head}{user_text}\n)"
    else:
        head = "SELECT * FROM (\n"
        user_text = (check.query or "").strip().rstrip(";")
        user_start = len(head)
        sql = f"{head}{user_text}\n)"
    return CheckQuery(
        name=name,
        type=check.type,
        dataset=dataset,
        severity=check.severity,
        sql=sql,
        params=params,
        user_text=user_text,
        user_start=user_start,
    )


@dataclass(frozen=True)
class CheckResult:
    """What one check found: ``status`` passed, failed (an ``error`` check with violations),
    warned (a ``warn`` check with violations) or error (its SQL failed: ``error`` says why)."""

    name: str
    type: str
    dataset: str
    severity: str
    status: str
    violations: int = 0
    sample: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def blocks(self) -> bool:
        """Whether it keeps the step's output from being committed."""
        return self.severity == "error" and self.status in ("failed", "error")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "dataset": self.dataset,
            "severity": self.severity,
            "status": self.status,
            "violations": self.violations,
            "sample": self.sample,
            "error": self.error,
        }

    def summary(self) -> str:
        """One line for the step's log and error."""
        if self.status == "error":
            return f"check {self.name!r} on {self.dataset} could not run: {self.error}"
        if self.status == "passed":
            return f"check {self.name!r} on {self.dataset} passed"
        rows = "row" if self.violations == 1 else "rows"
        found = f"{self.violations} violating {rows}"
        return f"check {self.name!r} on {self.dataset} {self.status}: {found}"


def outcome(check: CheckQuery, violations: int, sample: list[dict[str, Any]]) -> CheckResult:
    """The result of ``check`` that found ``violations`` rows."""
    status = "passed" if violations == 0 else "failed" if check.severity == "error" else "warned"
    return CheckResult(
        name=check.name,
        type=check.type,
        dataset=check.dataset,
        severity=check.severity,
        status=status,
        violations=violations,
        sample=sample[:MAX_SAMPLE],
    )


def broken(check: CheckQuery, error: str) -> CheckResult:
    """The result of ``check`` whose SQL failed."""
    return CheckResult(
        name=check.name,
        type=check.type,
        dataset=check.dataset,
        severity=check.severity,
        status="error",
        error=error,
    )
