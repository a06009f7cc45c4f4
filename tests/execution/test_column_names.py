"""A step whose output has a column Spark or Trino cannot read (a space, ``,;{}()=``, a
newline, a tab) is Failed, naming each such column, and commits nothing."""

from __future__ import annotations

from headrace.runtime import Runtime
from tests.execution.support import current_version, run_pipeline, steps
from tests.factories import Api, make_pipeline, make_step


def test_an_output_with_unreadable_column_names_fails_and_commits_nothing(
    api: Api, runtime: Runtime
) -> None:
    bad = make_step("bad", 'SELECT 1 AS "first name", 2 AS "sum(x)", 3 AS ok', [], ["bad_out"])
    good = make_step("good", "SELECT 1 AS first_name", [], ["good_out"])
    run = run_pipeline(api, runtime, make_pipeline(api, [bad, good])["id"])
    by_name = steps(run)
    assert by_name["good"]["status"] == "Succeeded"
    failed = by_name["bad"]
    assert failed["status"] == "Failed"
    assert "output 'bad_out': column 'first name' has a space" in failed["error"]
    assert "column 'sum(x)' has '(' and ')'" in failed["error"]
    assert "rename it, e.g. 'first_name'" in failed["error"]
    assert "nothing was committed" in failed["error"]
    assert current_version(runtime.db, api.org_id, "bad_out") is None
