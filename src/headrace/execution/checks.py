"""Run a step's checks on its written outputs, inside the step's process.

The checks get a locked connection of their own (``open_sandbox``) in which each output, as
written to its Parquet file, is a view named like the dataset, and nothing else exists: a
check's SQL can read only the step's outputs, never its inputs, a file or a setting. Each
check counts its violating rows, then samples at most ``MAX_SAMPLE`` of them as JSON (DuckDB's
``to_json``: every type becomes a JSON value). A check whose SQL fails is an ``error``
result, restated in the user's terms; the other checks still run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from headrace.domain.checks import MAX_SAMPLE, CheckQuery, CheckResult, broken, outcome
from headrace.execution.sandbox import SandboxLimits, StepInput, fresh_connection, open_sandbox
from headrace.execution.sql_errors import UserSql, restate


def _plain(value: Any) -> Any:
    """``value`` with every float that JSON cannot hold (NaN, infinities) as its text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def run_checks(
    checks: Sequence[CheckQuery],
    files: Mapping[str, Sequence[str]],
    limits: SandboxLimits,
    spill: str,
) -> list[CheckResult]:
    """The result of each check over the outputs' written ``files`` (output name → its
    Parquet files)."""
    import duckdb

    inputs = {name: StepInput(files=tuple(paths), columns=()) for name, paths in files.items()}
    paths = {path: f"<output {name}>" for name, found in files.items() for path in found}
    con = open_sandbox(fresh_connection(), inputs, [], limits, spill)
    results = []
    try:
        for check in checks:
            head = "SELECT count(*) FROM (\n"
            user = (
                UserSql(check.user_text, len(head) + check.user_start)
                if check.user_text is not None
                else None
            )
            try:
                found = con.execute(f"{head}{check.sql}\n)", list(check.params)).fetchone()
                violations = int(found[0]) if found else 0
                sample: list[dict[str, Any]] = []
                if violations:
                    rows = con.execute(
                        f"SELECT to_json(s)::VARCHAR FROM (\n{check.sql}\n) AS s "
                        f"LIMIT {MAX_SAMPLE}",
                        list(check.params),
                    ).fetchall()
                    sample = [_plain(json.loads(row[0])) for row in rows]
            except duckdb.Error as err:
                message = restate(str(err), user, paths)
                if isinstance(err, (duckdb.InterruptException, duckdb.OutOfMemoryException)):
                    raise type(err)(message) from None  # the step's limits: the step fails
                results.append(broken(check, message))
                continue
            results.append(outcome(check, violations, sample))
    finally:
        con.close()
    return results
