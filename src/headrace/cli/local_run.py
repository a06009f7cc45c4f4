"""``headrace run PIPELINE.yaml``: load the sources, run the pipeline here, show each step.

It works on the embedded default (or whatever HEADRACE_* points at) without a server: the
same services and the same worker code as ``headrace serve``, in this one process.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from headrace.cli.context import open_runtime
from headrace.cli.pipeline_file import PipelineFile, PipelineFileError, load
from headrace.cli.source_files import SourceFiles
from headrace.domain.access import Principal
from headrace.domain.pipeline import step_from_dict
from headrace.domain.records import RunRecord
from headrace.domain.runs import RunStatus, StepStatus
from headrace.errors import HeadraceError, NotFound
from headrace.execution.step_process import ReadyProcesses
from headrace.persistence.db import Database
from headrace.persistence.repositories import datasets as datasets_repo
from headrace.persistence.repositories import runs as runs_repo
from headrace.runtime import Runtime
from headrace.services import keys, pipelines, runs
from headrace.services.executors import local_executor
from headrace.services.worker import Worker
from headrace.settings import Settings

console = Console()
# How often the table of a run in progress is redrawn on a terminal. Each redraw reads the run
# and its steps from the store: CPU taken from the steps running beside it, so a run whose
# output goes to a pipe or a file (a script, CI) gets its table once, at the end.
REDRAW_SECONDS = 0.25
_STYLE = {
    StepStatus.SUCCEEDED: "green",
    StepStatus.FAILED: "red",
    StepStatus.ERROR: "red",
    StepStatus.CANCELLED: "yellow",
    StepStatus.OMITTED: "dim",
    StepStatus.SKIPPED: "dim",
    StepStatus.RUNNING: "cyan",
    StepStatus.PENDING: "white",
}


def _import_sources(rt: Runtime, who: Principal, file: PipelineFile) -> None:
    """Load each source as a new dataset version, only when its content changed since the
    last import (remembered next to the metadata store, checked against the catalog)."""
    state = SourceFiles(rt.settings.data_dir / "local-sources.json")
    with rt.db.unit_of_work(write=False) as conn:
        versions = datasets_repo.current_versions(conn, who.org_id, list(file.sources))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="headrace-source-hash") as hashing:
        for name, path in file.sources.items():
            if state.loaded_version(name) is None:
                # Loaded whatever its content: hashed meanwhile, for the next run to compare,
                # on the other core (hashlib lets go of the GIL), not before it is loaded.
                hashed = hashing.submit(state.digest, name, path)
                version = _load(rt, who, name, path)
                hashed.result()
                state.loaded(name, version)
                continue
            state.digest(name, path)
            current = versions.get(name)
            loaded = state.loaded_version(name)
            if current is not None and loaded == current:
                console.print(f"[dim]source {name}: unchanged (version {current})[/dim]")
                continue
            if current is not None and loaded is not None:
                # The file is as it was loaded, but a run has written the dataset since (a
                # source that is also a step's output): that version again, unread.
                from headrace.services import datasets

                record = datasets.republish(rt, who, name, loaded)
                state.loaded(name, record.current_version)
                console.print(
                    f"source {name}: unchanged, version {loaded} again as {record.current_version}"
                )
                continue
            state.loaded(name, _load(rt, who, name, path))
    state.save()


def _load(rt: Runtime, who: Principal, name: str, path: Path) -> int | None:
    """Load the file as the source's new version (its number). Loading needs the upload
    machinery (and DuckDB): imported only when a source changed, so a repeat run's process
    never loads DuckDB (its steps run elsewhere)."""
    from headrace.services import datasets

    source = datasets.SourceFile(path=str(path), filename=path.name, content_type=None)
    record = datasets.upload(rt, who, name, source)
    rows = record.current.row_count if record.current else 0
    console.print(f"source {name}: loaded {rows} rows as version {record.current_version}")
    return record.current_version


def _pipeline_id(db: Database, who: Principal, file: PipelineFile) -> uuid.UUID:
    """The pipeline of the file, with a new version when its steps changed, and the
    schedules, triggers and limits it declares (which a ``headrace serve`` on the same data
    directory then follows)."""
    pipeline_id = _versioned(db, who, file)
    if file.automation.schedules or file.automation.triggers or _limited(file):
        _automate(db, who, pipeline_id, file)
    return pipeline_id


def _limited(file: PipelineFile) -> bool:
    return file.automation.limits != {"max_active_runs": None, "on_limit": "queue"}


def _automate(db: Database, who: Principal, pipeline_id: uuid.UUID, file: PipelineFile) -> None:
    from headrace.cli.automation import SCHEDULE_FIELDS, TRIGGER_FIELDS, plan
    from headrace.schemas.schedules import ScheduleRead, TriggerRead
    from headrace.services import schedules, triggers
    from headrace.services.schedules import ScheduleFields
    from headrace.services.triggers import TriggerFields

    wanted = file.automation
    pipelines.update(db, who, pipeline_id, name=None, description=None, limits=wanted.limits)
    existing = [
        (str(v.schedule.id), ScheduleRead.of(v.schedule, []).model_dump(mode="json"))
        for v in schedules.list_for_pipeline(db, who, pipeline_id)
    ]
    made = plan(existing, wanted.schedules, SCHEDULE_FIELDS)
    for schedule_id in made.delete:
        schedules.delete(db, who, pipeline_id, uuid.UUID(schedule_id))
    for body in made.create:
        schedules.create(db, who, pipeline_id, ScheduleFields(**body))
    existing = [
        (str(t.id), TriggerRead.of(t).model_dump(mode="json"))
        for t in triggers.list_for_pipeline(db, who, pipeline_id)
    ]
    made = plan(existing, wanted.triggers, TRIGGER_FIELDS)
    for trigger_id in made.delete:
        triggers.delete(db, who, pipeline_id, uuid.UUID(trigger_id))
    for body in made.create:
        triggers.create(db, who, pipeline_id, TriggerFields(**body))


def _versioned(db: Database, who: Principal, file: PipelineFile) -> uuid.UUID:
    try:
        view = pipelines.find(db, who, file.name)
    except NotFound:
        return pipelines.create(
            db, who, file.name, file.description, file.steps, file.parameters
        ).pipeline.id
    current = view.current_version
    stored = [step_from_dict(s.name, s.config) for s in current.steps] if current else []
    steps = file.steps_reusing(stored)
    if current is None or stored != steps or current.parameters != file.parameter_bodies:
        pipelines.add_version(db, who, view.pipeline.id, steps, file.parameters)
        console.print(f"pipeline {file.name}: steps changed, new version")
    return view.pipeline.id


def _table(run: RunRecord, elapsed: float) -> Table:
    table = Table(title=f"{run.name}: {run.status} ({elapsed:.2f} s)")
    for column in ("step", "status", "rows", "time", "error / reused from"):
        table.add_column(column, overflow="fold")
    for step in run.steps:
        status = StepStatus(step.status)
        took = (
            f"{(step.finished_at - step.started_at).total_seconds():.2f} s"
            if step.started_at and step.finished_at
            else ""
        )
        reused = step.reused_from_run_id is not None
        table.add_row(
            step.name,
            f"[{_STYLE[status]}]{status.value}{' (reused)' if reused else ''}[/]",
            "" if step.rows_written is None else str(step.rows_written),
            took,
            step.error
            or (f"run {step.reused_from_run_id} step {step.reused_from_step}" if reused else ""),
        )
    return table


def _load_run(db: Database, run_id: uuid.UUID) -> RunRecord:
    with db.unit_of_work(write=False) as conn:
        found = runs_repo.get_by_id(conn, run_id)
    assert found is not None
    return found


def run_file(
    path: Path,
    start: str | None,
    end: str | None,
    steps: ReadyProcesses,
    *,
    use_cache: bool = True,
) -> int:
    """Run the pipeline in ``path`` with the step processes ``steps`` (the caller's: started
    before its imports); the exit code is 0 only when the run succeeded."""
    started = time.perf_counter()
    try:
        file = load(path)
    except PipelineFileError as err:
        console.print(f"[red]error:[/red] {err}")
        return 2
    settings = Settings()
    rt = open_runtime(settings, migrate=True, steps=steps)
    db = rt.db
    try:
        who = keys.local_principal(db)
        _import_sources(rt, who, file)
        pipeline_id = _pipeline_id(db, who, file)
        view = runs.create(
            db,
            settings,
            who,
            pipeline_id,
            start=start,
            end=end,
            version_id=None,
            use_cache=use_cache,
        )
        worker = Worker(db, settings, local_executor(rt))
        run_id = worker.claim(only=view.run.id)
        assert run_id is not None
        thread = threading.Thread(target=worker.execute, args=(run_id,), daemon=True)
        thread.start()
        with Live(_table(view.run, 0), console=console, refresh_per_second=4) as live:
            redraw = REDRAW_SECONDS if console.is_terminal else None
            thread.join(redraw)
            while thread.is_alive():
                live.update(_table(_load_run(db, run_id), time.perf_counter() - started))
                thread.join(redraw)
            run = _load_run(db, run_id)
            live.update(_table(run, time.perf_counter() - started))
    except HeadraceError as err:
        from rich.markup import escape

        from headrace.client.errors import describe

        if err.problems:  # the steps' problems, each where the file has it
            console.print(f"[red]error:[/red] {escape(err.detail)}")
            for problem in err.problems:
                console.print(f"  {escape(file.where(problem))}", soft_wrap=True)
        else:
            console.print(f"[red]error:[/red] {escape(describe(err.detail, err.problems))}")
        return 2
    finally:
        rt.close()
    return 0 if run.status == RunStatus.SUCCEEDED else 1
