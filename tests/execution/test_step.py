"""How a step's DuckDB error decides its status: the user's SQL failing is Failed, our own
storage failing is Error (issue 21 item 7: a resource function's failure raised by the
user's SQL was an I/O error, and the run was Error)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from headrace.domain.quota import StorageQuota
from headrace.domain.runs import StepStatus
from headrace.execution.sandbox import SandboxLimits
from headrace.execution.step import Interrupt, StepFailed, _sql_outcome, output_limits


def _raised(sql: str, *, locked: Path | None = None) -> duckdb.Error:
    con = duckdb.connect()
    try:
        con.execute("SET errors_as_json=true")
        if locked is not None:  # as the step's sandbox locks it
            con.execute(f"SET allowed_directories=['{locked}']")
            con.execute("SET enable_external_access=false")
            con.execute("SET lock_configuration=true")
        with pytest.raises(duckdb.Error) as caught:
            con.execute(sql)
        return caught.value
    finally:
        con.close()


def _status(err: duckdb.Error) -> StepStatus:
    outcome = _sql_outcome(err, Interrupt(), SandboxLimits(memory_limit="1GB", threads=1))
    assert outcome is not None
    return outcome.status


def test_errors_the_users_sql_raises_are_failed(tmp_path: Path) -> None:
    for sql in (
        "SELECT * FROM destroy_external_resource('query', 'x')",  # an I/O error, not ours
        "SELECT * FROM read_text('/etc/hostname')",  # the sandbox's permission error
        "SET threads=64",  # the locked configuration
        "SELECT nosuch",
    ):
        assert _status(_raised(sql, locked=tmp_path)) is StepStatus.FAILED, sql


def test_our_files_failing_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "out.parquet"
    err = _raised(f"COPY (SELECT 1 AS n) TO '{missing}' (FORMAT parquet)")
    assert isinstance(err, duckdb.IOException)
    assert _status(err) is StepStatus.ERROR


def test_a_step_may_write_what_is_left_of_its_organisation_s_quota() -> None:
    """The smaller of the step output limit and what is left of the quota binds, and only
    the quota's is reported as the quota (the step output limit keeps its own sentence)."""
    limits = SandboxLimits(memory_limit="1GB", threads=1, output_max_bytes=1000)
    assert output_limits(limits, None) == (limits, None)
    roomy = StorageQuota(limit=10_000, used=2_000)
    assert output_limits(limits, roomy) == (limits, None)
    tight = StorageQuota(limit=10_000, used=9_700)
    bound, quota = output_limits(limits, tight)
    assert (bound.output_max_bytes, quota) == (300, tight)
    unlimited = SandboxLimits(memory_limit="1GB", threads=1, output_max_bytes=0)
    assert output_limits(unlimited, roomy)[0].output_max_bytes == 8_000
    with pytest.raises(StepFailed, match=r"quota of 10,000 bytes .* use 10,500, so it was not run"):
        output_limits(limits, StorageQuota(limit=10_000, used=10_500))
