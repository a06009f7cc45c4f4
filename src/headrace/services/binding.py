"""Schema-aware saving: a new version's SQL is bound against the schemas it will meet
(``execution/binding.py``) before the version is stored.

The schemas of the datasets the version reads but does not write are their current
versions' (read from the Delta log through the runtime's table cache and typed by DuckDB, as
a step's process sees them); the outputs of earlier steps are what binding infers. Each
declared parameter binds as a placeholder value of its type, so ``$name`` is typed exactly as
it is at run time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from headrace.domain.dag import Dag
from headrace.domain.parameters import Parameter, typed
from headrace.domain.pipeline import Step
from headrace.execution.binding import Binding, Columns, bind_version
from headrace.persistence.repositories import datasets as datasets_repo

if TYPE_CHECKING:
    from headrace.runtime import Runtime

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
        return bind_version(
            steps, order, existing, placeholders, self.runtime.settings.step_memory_limit
        )
