"""Concurrency limits of a pipeline: ``max_active_runs`` and what happens to a run past it."""

from __future__ import annotations

from typing import Any

from headrace.domain.problems import Loc, Problem

ON_LIMIT = ("queue", "skip")
MAX_LIMIT = 10_000


def check_limits(limits: dict[str, Any], loc: Loc) -> list[Problem]:
    """Every problem of the concurrency fields sent: a limit is a whole number from 1 (or
    null for none); ``on_limit`` is queue or skip."""
    problems = []
    limit = limits.get("max_active_runs")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT
    ):
        problems.append(
            Problem(
                (*loc, "max_active_runs"),
                f"max_active_runs must be a whole number from 1 to {MAX_LIMIT}, or null",
                "pipeline.bad_limit",
            )
        )
    on_limit = limits.get("on_limit", "queue")
    if on_limit not in ON_LIMIT:
        problems.append(
            Problem(
                (*loc, "on_limit"),
                f"on_limit {on_limit!r} is not one of {', '.join(ON_LIMIT)}",
                "pipeline.bad_on_limit",
            )
        )
    return problems


def held_back(active: int, limit: int | None) -> str | None:
    """Why a new run waits, when its pipeline already has ``active`` runs Pending or Running
    and may have ``limit`` at once; None when it may start."""
    if limit is None or active < limit:
        return None
    runs = "run" if active == 1 else "runs"
    return f"pipeline already has {active} active {runs} (max_active_runs {limit})"
