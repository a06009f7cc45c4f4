"""The pipelines and files the fault tests put through a server they then kill."""

from __future__ import annotations

from typing import Any

from tests.execution.support import steps, wait_for
from tests.factories import Api, make_step

# A fraction of a second on an idle machine: long enough for a test to see the step Running and
# act before it ends (each test checks that it did).
SLOW_ROWS = 20_000_000


def slow_steps(size: int = SLOW_ROWS) -> list[dict[str, Any]]:
    """made (slow, 1000 rows) → summed (fast): a run with a long step and one after it. Never
    reused (``cache: false``): every run of them computes them, which is what is observed."""
    steps = [
        make_step(
            "made",
            f"SELECT range % 1000 AS g, count(*) AS c, sum(range)::BIGINT AS s FROM range({size}) "
            "GROUP BY g",
            [],
            ["made"],
        ),
        make_step("summed", "SELECT sum(c) AS c, sum(s) AS s FROM made", ["made"], ["summed"]),
    ]
    for step in steps:
        step["config"]["cache"] = False
    return steps


def step_status(api: Api, pipeline_id: str, run_id: str, step: str) -> str:
    r = api.get(f"/pipelines/{pipeline_id}/runs/{run_id}/")
    assert r.status_code == 200, r.text
    status: str = steps(r.json())[step]["status"]
    return status


def wait_step_running(api: Api, pipeline_id: str, run_id: str, step: str) -> None:
    wait_for(
        lambda: step_status(api, pipeline_id, run_id, step) == "Running",
        timeout=60,
        what=f"step {step} to run",
    )


def csv_bytes(rows: int) -> bytes:
    """A CSV of ``rows`` rows: ``id,label,amount``."""
    lines = ["id,label,amount"]
    lines.extend(f"{i},label-{i % 97},{i * 0.5}" for i in range(rows))
    return ("\n".join(lines) + "\n").encode()


def upload(api: Api, name: str, content: bytes) -> dict[str, Any]:
    r = api.post(
        "/datasets/", data={"name": name}, files={"file": (f"{name}.csv", content, "text/csv")}
    )
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result
