"""What a running step reads and writes of the metadata store (``execution.base.StepStore``).

A step's start is one transaction (it is marked Running and reads its own row, its inputs'
writers' rows and its datasets' catalog rows, never the whole run, so a step of a
10,000-step run costs what a step of a small one does); its end is another (the dataset
versions it committed, what it read and wrote, its log lines and its status). Both status
changes go through the lifecycle.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import Connection

from headrace.domain.parameters import Parameter, typed
from headrace.domain.records import RunRef
from headrace.domain.runs import StepStatus
from headrace.execution.argo.manifest import run_name_of_node
from headrace.execution.base import StepEnd, StepNotStartable, StepStart
from headrace.persistence.db import Database
from headrace.persistence.repositories import datasets as datasets_repo
from headrace.persistence.repositories import pipelines as pipelines_repo
from headrace.persistence.repositories import reuse as reuse_repo
from headrace.persistence.repositories import runs as runs_repo
from headrace.services import quota
from headrace.services.clock import utcnow
from headrace.services.graphs import VersionGraphs
from headrace.services.lifecycle import Lifecycle
from headrace.services.planning import ENGINE_VERSION, recipe_of, step_fingerprint

log = logging.getLogger("headrace.step")


class DatabaseStepStore:
    """``StepStore`` over the metadata store, its changes of status through ``Lifecycle``."""

    def __init__(
        self,
        db: Database,
        graphs: VersionGraphs,
        lifecycle: Lifecycle | None = None,
        *,
        storage_quota: int = 0,
    ) -> None:
        self.db = db
        self.storage_quota = storage_quota  # settings.org_storage_quota_bytes; 0: none
        self.lifecycle = lifecycle or Lifecycle(db)
        self.graphs = graphs

    def begin(self, run_id: uuid.UUID, step_name: str, line: str) -> StepStart:
        with self.db.unit_of_work() as conn:
            ref = runs_repo.ref(conn, run_id)
            if ref is None:
                raise LookupError(f"there is no run {run_id}")
            dag = self.graphs.get(conn, ref.version_id)
            step = dag.by_name.get(step_name)
            writers = {dag.writer_of.get(n) for n in step.config.input_datasets} if step else set()
            rows = runs_repo.steps_named(
                conn, run_id, [step_name, *sorted(w for w in writers if w and w != step_name)]
            )
            if step is None or step_name not in rows:
                raise LookupError(f"run {run_id} has no step {step_name!r}")
            status = StepStatus(rows[step_name].status)
            started = rows[step_name].started_at
            if status is StepStatus.PENDING:
                started = utcnow()
                self.lifecycle.move_step(
                    conn, ref, step_name, status, StepStatus.RUNNING, started_at=started
                )
            elif status is not StepStatus.RUNNING or started is None:
                # Running: the backend runs the step again (Argo retries a pod whose node
                # failed); anything else has ended and is never run again.
                raise StepNotStartable(f"step {step_name!r} of run {run_id} is {status}")
            names = [*step.config.input_datasets, *step.config.output_datasets]
            catalog = datasets_repo.by_names(conn, ref.org_id, names)
            storage = quota.read(conn, ref.org_id, self.storage_quota)
            parameters = self._parameters(conn, ref)
            runs_repo.add_logs(conn, run_id, step_name, [(utcnow(), line)])
        del rows[step_name]
        return StepStart(
            run=ref,
            step=step,
            started_at=started,
            writers=rows,
            datasets={n: (uuid.UUID(str(r.id)), r.current_version) for n, r in catalog.items()},
            quota=storage,
            parameters=parameters,
        )

    def _parameters(self, conn: Connection, ref: RunRef) -> dict[str, Any]:
        """The run's parameter values, typed by its version's declarations, with
        ``$scheduled_for``."""
        values, trigger = runs_repo.parameters(conn, ref.id)
        version = pipelines_repo.versions_by_id(conn, [ref.version_id], self.db.versions)
        declared = [Parameter.from_dict(p) for p in version[ref.version_id].parameters]
        when = trigger.get("scheduled_for")
        return typed(declared, values, dt.datetime.fromisoformat(when) if when else None)

    def ensure_dataset(self, org_id: uuid.UUID, name: str) -> uuid.UUID:
        # The catalog service, and the upload machinery it imports, only for a first write.
        from headrace.services import datasets as catalog

        return catalog.ensure(self.db, org_id, name)

    def end(self, start: StepStart, end: StepEnd) -> None:
        ref, name, now = start.run, start.step.name, utcnow()
        with self.db.unit_of_work() as conn:
            for dataset_id, written in end.written:
                datasets_repo.add_written(
                    conn, dataset_id, written, now, operation="step", run_id=ref.id, step_name=name
                )
            runs_repo.record_step(
                conn,
                ref.id,
                name,
                input_versions=end.input_versions,
                output_versions=end.output_versions,
                rows_written=end.rows_written,
                bytes_written=end.bytes_written,
                checks=end.checks,
            )
            runs_repo.add_logs(conn, ref.id, name, end.lines)
            key = self._fingerprint(conn, start, end)
            if key is not None:
                reuse_repo.add(conn, ref.org_id, key, ref.id, name)
            if not self.lifecycle.move_step(
                conn,
                ref,
                name,
                StepStatus.RUNNING,
                end.status,
                error=end.error,
                attempt=start.started_at,
            ):
                # Ended meanwhile (its run was cancelled, its worker's lease taken over): what
                # it wrote is recorded; its status stays the one it already has.
                log.warning("step %s of run %s ended %s too late", name, ref.id, end.status)

    def _fingerprint(self, conn: Connection, start: StepStart, end: StepEnd) -> str | None:
        """The fingerprint of a step that succeeded, from the versions it read and the
        datasets it wrote, for later runs to find its result (``services/planning.py``)."""
        if end.status is not StepStatus.SUCCEEDED or end.input_versions is None:
            return None
        config = start.step.config
        ids = {n: i for n, (i, _) in start.datasets.items()}
        ids.update(zip(config.output_datasets, (i for i, _ in end.written), strict=True))
        inputs = {n: (ids[n], v) for n, v in end.input_versions.items()}
        outputs = {n: ids[n] for n in config.output_datasets}
        version_id = start.run.version_id
        version = pipelines_repo.versions_by_id(conn, [version_id], self.db.versions)[version_id]
        made = recipe_of(self.db.recipes, version, start.step)
        if start.step.name not in version.recipes:  # it read a step's output: not planned
            pipelines_repo.keep_recipes(conn, version, {start.step.name: made}, self.db.versions)
        return step_fingerprint(made, inputs, outputs, start.parameters, ENGINE_VERSION)


def step_of_node(db: Database, run_id: uuid.UUID, node: str) -> str:
    """The name of the run's step that runs as the Argo node ``node`` (``{{node.name}}``):
    what a step pod works out before it runs."""
    with db.unit_of_work(write=False) as conn:
        run = runs_repo.get_by_id(conn, run_id)
    if run is None:
        raise LookupError(f"there is no run {run_id}")
    wanted = run_name_of_node(node)
    for step in run.steps:
        if step.run_name == wanted:
            return step.name
    raise LookupError(f"run {run_id} has no step that runs as Argo node {node!r}")
