"""Schema-aware saving: a new version's SQL is bound against the schemas it will meet
(``execution/binding.py``) before the version is stored.

The schemas of the datasets the version reads but does not write are their current
versions' (read from the Delta log through the runtime's table cache and typed by DuckDB, as
a step's process sees them); the outputs of earlier steps are what binding infers. Each
declared parameter binds as a placeholder value of its type, so ``$name`` is typed exactly as
it is at run time. Binding runs in one of the runtime's step processes, under limits of its
own: DuckDB folds constant expressions as it binds, and one can be built as large as memory
lets it. A version whose binding passes them is saved unchecked, with a warning; its SQL
meets the step's limits when it runs.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from headrace.domain.dag import Dag
from headrace.domain.parameters import Parameter, typed
from headrace.domain.pipeline import Step
from headrace.domain.problems import Problem
from headrace.execution.binding import Binding, Columns
from headrace.execution.sandbox import SandboxLimits
from headrace.execution.step_process import BindJob, StepProcessDied, StepTimedOut
from headrace.persistence.repositories import datasets as datasets_repo

if TYPE_CHECKING:
    from headrace.runtime import Runtime

# Binding empty tables needs little: a version whose binding needs more is building a
# constant far larger than any plan (its step process is stopped past twice this, plus the
# interpreter), and a save waits for it at most this long.
BIND_MEMORY = "256MB"
BIND_SECONDS = 20.0

# A value of each parameter type, in the JSON form a run's values take.
_PLACEHOLDERS: dict[str, Any] = {
    "string": "",
    "integer": 0,
    "number": 0.0,
    "boolean": False,
    "date": "2000-01-01",
    "timestamp": "2000-01-01T00:00:00+00:00",
}


class SaveBinder:
    """Binds versions being saved, with the warehouse, table cache and DuckDB of a runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def existing(self, org_id: uuid.UUID, names: Sequence[str]) -> dict[str, Columns]:
        """The DuckDB-typed columns of the current version of each of ``names`` that exists
        and has a version."""
        from headrace.storage.upsert import duck_types

        rt = self.runtime
        with rt.db.unit_of_work(write=False) as conn:
            catalog = datasets_repo.by_names(conn, org_id, names)
        found: dict[str, Columns] = {}
        for name, row in catalog.items():
            if row.current_version is None:
                continue
            table = rt.warehouse.table(org_id, uuid.UUID(str(row.id)))
            snapshot = rt.tables.snapshot(table, int(row.current_version))
            found[name] = list(duck_types(rt.duck, snapshot.schema).items())
        return found

    def bind(
        self, org_id: uuid.UUID, steps: Sequence[Step], parameters: Sequence[Parameter]
    ) -> Binding:
        """Bind valid ``steps`` (an acyclic version with every SQL problem already ruled out)."""
        written = {o for s in steps for o in s.config.output_datasets}
        read = {i for s in steps for i in s.config.input_datasets}
        existing = self.existing(org_id, sorted(read - written))
        values = {p.name: _PLACEHOLDERS.get(p.type) for p in parameters}
        placeholders = typed(parameters, values, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        order = Dag.build(steps).topological_order()
        limits = SandboxLimits(memory_limit=BIND_MEMORY, threads=1)
        job = BindJob(list(steps), order, existing, placeholders, limits)
        seconds = min(self.runtime.settings.step_timeout_seconds, BIND_SECONDS)
        child = self.runtime.steps.take()
        try:
            return child.bind(job, time.monotonic() + seconds)
        except Exception as err:  # stopped for its time or memory, or the process died
            if not isinstance(err, (StepTimedOut, StepProcessDied)) and not _stopped(err):
                raise
            return Binding(
                warnings=[
                    Problem(
                        ("steps",),
                        "the version's SQL could not be checked against its inputs' columns: "
                        "binding it passed its time or memory limit (a constant "
                        "expression too large to build?); it is checked when it runs",
                        "sql.not_checked",
                    )
                ]
            )
        finally:
            self.runtime.steps.give_back(child)


def _stopped(err: Exception) -> bool:
    """Whether ``err`` is DuckDB's word for a child stopped at its memory cap or killed."""
    import sys

    if "_duckdb" not in sys.modules:
        return False
    import duckdb

    return isinstance(err, (duckdb.OutOfMemoryException, duckdb.InterruptException))
