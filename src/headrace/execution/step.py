"""Run one step of one run: the single code path of the local worker and of an Argo pod.

It pins the input versions, opens the sandbox, runs the SQL, writes every output as a new
Delta version and reports all of it through a ``StepStore`` (``execution/base.py``): what
it reads and records of the metadata store is the services' business, so the same runner
serves a worker and a pod. Nothing is committed unless the SQL succeeded for every output,
so a failed step leaves each dataset exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from headrace.domain.checks import CheckResult, check_queries
from headrace.domain.columns import unreadable_names
from headrace.domain.quota import StorageQuota
from headrace.domain.runs import StepStatus
from headrace.errors import HeadraceError
from headrace.execution.base import StepEnd, StepStart, StepStore
from headrace.execution.sandbox import OutputTooLarge, SandboxLimits, StepInput, spill_folder
from headrace.execution.step_process import ReadyProcesses, SqlJob, StepProcess, StepTimedOut
from headrace.settings import Settings
from headrace.storage import delta, retry
from headrace.storage.duck import ServiceDuck
from headrace.storage.mirror import pinning
from headrace.storage.snapshots import TableCache, brought_forward
from headrace.storage.warehouse import Warehouse

log = logging.getLogger("headrace.step")


def step_input(snapshot: delta.Snapshot, duck: ServiceDuck) -> StepInput:
    """What the step's process reads of a pinned version; the columns only matter (and cost a
    DuckDB cursor to type) when the version has no file."""
    if snapshot.files:
        return StepInput(files=tuple(snapshot.files), columns=())
    from headrace.storage.upsert import duck_types

    return StepInput(files=(), columns=tuple(duck_types(duck, snapshot.schema).items()))


_ABOUT_FILES = re.compile(r"file|director|disk|space left", re.IGNORECASE)


def _out_of_memory(err: Exception, limits: SandboxLimits) -> str:
    """One sentence for a step that outgrew its limits. DuckDB's own message goes on to
    advise settings (``SET threads``, ``PRAGMA max_temp_directory_size``) that the sandbox
    does not let a step change."""
    if "max_temp_directory_size" in str(err):
        return (
            f"the step ran out of memory and of its {limits.max_temp_size} of spill space on "
            "disk (HEADRACE_STEP_SPILL_LIMIT), so it was stopped and wrote nothing"
        )
    return (
        f"the step ran out of memory: a part of its query that cannot spill to disk needed "
        f"more than its {limits.memory_limit} (HEADRACE_STEP_MEMORY_LIMIT), so it was "
        "stopped and wrote nothing"
    )


def _sql_outcome(err: Exception, interrupt: Interrupt, limits: SandboxLimits) -> StepOutcome | None:
    """The outcome of a DuckDB error or the sandbox's OutputTooLarge the step's process sent
    back (or ``Interrupt.attach`` raised), None for any other error. No DuckDB error exists
    in a process that never loaded DuckDB (unpickling one loads it), so a process whose
    steps succeed (``headrace run``, an Argo pod) never imports it: importing it would be a
    large part of the parent's start-up."""
    if isinstance(err, OutputTooLarge):  # the sandbox's own limit, met by the step's SQL
        return StepOutcome(StepStatus.FAILED, str(err))
    if "_duckdb" not in sys.modules:
        return None
    import duckdb

    if isinstance(err, duckdb.InterruptException):
        reason = interrupt.reason or "interrupted"
        status = StepStatus.CANCELLED if reason == "cancelled" else StepStatus.FAILED
        return StepOutcome(
            status, f"the step {reason}" if status is StepStatus.FAILED else "cancelled"
        )
    if isinstance(err, duckdb.OutOfMemoryException):
        return StepOutcome(StepStatus.FAILED, _out_of_memory(err, limits))
    if isinstance(err, duckdb.IOException) and _ABOUT_FILES.search(str(err)):
        # The sandbox refuses user file access with PermissionException; an I/O error about
        # files is ours (an unwritable or full warehouse), so the run is Error, not Failed.
        # Others come from the user's SQL (a function that failed, e.g. a resource's deleter).
        return StepOutcome(StepStatus.ERROR, str(err))
    if isinstance(err, duckdb.Error):
        return StepOutcome(StepStatus.FAILED, str(err))
    return None


class StepFailed(Exception):
    """The step's own work failed (bad SQL, missing input): the run is Failed, not Error."""


def output_limits(
    limits: SandboxLimits, quota: StorageQuota | None
) -> tuple[SandboxLimits, StorageQuota | None]:
    """The sandbox's ``limits`` for a step of an organisation with ``quota``: its outputs may
    take what is left of the quota when that is less than the step output limit, and the
    quota is then returned, as what stops it. Nothing left: Failed before it runs."""
    own = limits.output_max_bytes
    if quota is None or 0 < own <= quota.left:
        return limits, None
    if quota.left == 0:
        raise StepFailed(quota.refusal("the step's outputs") + ", so it was not run")
    return replace(limits, output_max_bytes=quota.left), quota


class Interruptible(Protocol):
    def interrupt(self) -> None: ...


@dataclass
class Interrupt:
    """Lets the worker's thread stop a running step when its run is cancelled (a step's own
    timeout is the deadline its process is run with)."""

    reason: str | None = None
    _con: Interruptible | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, con: Interruptible | None) -> None:
        """Route later ``fire()`` calls to ``con`` (the step's process); raise at once when
        already fired, so a step cancelled before it began does not begin."""
        with self._lock:
            self._con = con
            if con is not None and self.reason is not None:
                import duckdb

                raise duckdb.InterruptException(
                    f"the step was stopped before it began: {self.reason}"
                )

    def fire(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            if self._con is not None:
                self._con.interrupt()


@dataclass(frozen=True)
class StepOutcome:
    status: StepStatus
    error: str | None = None


@dataclass
class StepReport:
    """What a step has to say at its end, gathered as it runs: its log lines, what it read
    and wrote."""

    run_id: uuid.UUID
    step: str
    end: StepEnd = field(default_factory=lambda: StepEnd(StepStatus.RUNNING))

    def line(self, text: str) -> None:
        log.info("run %s step %s: %s", self.run_id, self.step, text)
        self.end.lines.append((_now(), text))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class StepResources(Protocol):
    """What a step runner uses of its process's runtime (``headrace.runtime.Runtime``)."""

    @property
    def settings(self) -> Settings: ...
    @property
    def warehouse(self) -> Warehouse: ...
    @property
    def steps(self) -> ReadyProcesses: ...
    @property
    def tables(self) -> TableCache: ...
    @property
    def duck(self) -> ServiceDuck: ...


class StepRunner:
    """Executes steps against one step store, with the warehouse, step processes and table
    cache of its process's runtime."""

    def __init__(self, store: StepStore, runtime: StepResources) -> None:
        settings = runtime.settings
        self.store = store
        self.settings = settings
        self.warehouse = runtime.warehouse
        self.processes = runtime.steps
        self.tables = runtime.tables
        self.duck = runtime.duck
        self.limits = SandboxLimits(
            memory_limit=settings.step_memory_limit,
            threads=settings.step_threads,
            max_temp_size=settings.step_spill_limit,
            output_max_bytes=settings.step_output_max_bytes,
        )

    def run(
        self, run_id: uuid.UUID, step_name: str, interrupt: Interrupt | None = None
    ) -> StepOutcome:
        """Run the step and record its outcome; never raises for the step's own failure.
        Raises ``StepNotStartable`` (nothing run, nothing recorded) for a step that is not
        waiting to run."""
        trace = sys.modules.get("opentelemetry.trace")  # loaded only when traces are on
        if trace is None:
            return self._run(run_id, step_name, interrupt)
        tracer = trace.get_tracer("headrace")
        attributes = {"headrace.run_id": str(run_id), "headrace.step": step_name}
        with tracer.start_as_current_span(f"step {step_name}", attributes=attributes) as span:
            outcome = self._run(run_id, step_name, interrupt)
            span.set_attribute("headrace.step_status", outcome.status.value)
            return outcome

    def _run(self, run_id: uuid.UUID, step_name: str, interrupt: Interrupt | None) -> StepOutcome:
        interrupt = interrupt or Interrupt()
        report = StepReport(run_id, step_name)
        start = self.store.begin(run_id, step_name, "started")
        log.info("run %s step %s: started", run_id, step_name)
        # Before the clock starts: waiting for a process to start is not the step's time.
        child = self.processes.take()
        started = time.perf_counter()
        deadline = time.monotonic() + self.settings.step_timeout_seconds
        try:
            with pinning():  # its files in an S3 mirror stay until it ends
                outcome = self._execute(start, interrupt, report, child, deadline)
        except StepFailed as err:
            outcome = StepOutcome(StepStatus.FAILED, str(err))
        except StepTimedOut:
            timeout = self.settings.step_timeout_seconds
            outcome = StepOutcome(StepStatus.FAILED, f"the step timed out after {timeout:g} s")
        except (HeadraceError, OSError, delta.CommitFailedError) as err:
            outcome = StepOutcome(StepStatus.ERROR, f"{type(err).__name__}: {err}")
        except Exception as err:
            sql_outcome = _sql_outcome(err, interrupt, self.limits)
            if sql_outcome is None:  # anything else is our failure, never the user's
                log.exception("step %s of run %s failed unexpectedly", step_name, run_id)
            outcome = sql_outcome or StepOutcome(StepStatus.ERROR, f"{type(err).__name__}: {err}")
        finally:
            interrupt.attach(None)
            self.processes.give_back(child)
        elapsed = time.perf_counter() - started
        if outcome.error:
            report.line(f"{outcome.status}: {outcome.error}")
        report.line(f"{outcome.status.value.lower()} in {elapsed:.3f} s")
        report.end.status = outcome.status
        report.end.error = outcome.error
        self.store.end(start, report.end)
        return outcome

    @staticmethod
    def _pinned_inputs(start: StepStart) -> dict[str, int]:
        """The version of each input: the one its writer in this run (or in the run it
        retries) wrote, else the dataset's current version."""
        written: dict[str, int] = {}
        for other in start.writers.values():
            for name, version in other.output_versions.items():
                written[name] = int(version)
        pinned = {}
        for name in start.step.config.input_datasets:
            current = start.datasets.get(name, (None, None))[1]
            if name in written:
                pinned[name] = written[name]
            elif current is not None:
                pinned[name] = current
            else:
                raise StepFailed(f"input dataset {name!r} has no version to read")
        return pinned

    def _execute(
        self,
        start: StepStart,
        interrupt: Interrupt,
        report: StepReport,
        child: StepProcess,
        deadline: float,
    ) -> StepOutcome:
        config = start.step.config
        limits, quota = output_limits(self.limits, start.quota)
        pinned = self._pinned_inputs(start)
        report.end.input_versions = pinned
        ids = {
            n: start.datasets[n][0]
            if n in start.datasets
            else self.store.ensure_dataset(start.run.org_id, n)
            for n in [*pinned, *config.output_datasets]
        }
        tables = {name: self.warehouse.table(start.run.org_id, ids[name]) for name in ids}
        inputs = {
            name: step_input(self.tables.snapshot(tables[name], v), self.duck)
            for name, v in pinned.items()
        }
        report.line("reads " + (", ".join(f"{n}@v{v}" for n, v in pinned.items()) or "nothing"))
        # Each base snapshot is taken before writing, so a concurrent commit is detected.
        bases = {name: self.tables.take_base(tables[name]) for name in config.output_datasets}
        folders = {name: delta.new_write_folder(tables[name]) for name in config.output_datasets}
        try:
            with spill_folder() as spill:
                try:
                    interrupt.attach(child)
                    checks = tuple(check_queries(config.checks, config.output_datasets))
                    job = SqlJob(
                        config.query,
                        inputs,
                        folders,
                        limits,
                        spill,
                        dict(start.parameters),
                        checks=checks,
                    )
                    delta.import_for_commit()  # while the SQL runs
                    result = child.run(job, deadline)
                except OutputTooLarge:
                    if quota is None:
                        raise
                    raise StepFailed(
                        quota.refusal("the step's outputs") + ", so it was stopped and nothing "
                        "was kept"
                    ) from None
                finally:
                    interrupt.attach(None)
        except BaseException:
            for folder in folders.values():
                shutil.rmtree(folder, ignore_errors=True)
            raise
        self._judge(result.checks, report, folders)
        self._readable_columns(result.copies, folders)
        outputs: dict[str, int] = {}
        for name in config.output_datasets:
            written, base = self._commit(tables[name], result.copies[name], bases[name])
            self.tables.give_back(tables[name], base, written)
            report.end.written.append((ids[name], written))
            outputs[name] = written.version
            report.line(
                f"wrote {name}@v{written.version}: {written.row_count} rows, {written.bytes} bytes"
            )
        report.end.output_versions = outputs
        report.end.rows_written = sum(w.row_count for _, w in report.end.written)
        report.end.bytes_written = sum(w.bytes for _, w in report.end.written)
        return StepOutcome(StepStatus.SUCCEEDED)

    @staticmethod
    def _judge(checks: list[CheckResult], report: StepReport, folders: dict[str, str]) -> None:
        """Record the checks' results; when one that blocks failed, remove what the step
        wrote (no version is committed) and fail the step with every blocking result."""
        report.end.checks = [c.to_dict() for c in checks]
        for check in checks:
            report.line(check.summary())
        blocking = [c for c in checks if c.blocks]
        if blocking:
            for folder in folders.values():
                shutil.rmtree(folder, ignore_errors=True)
            raise StepFailed(
                "; ".join(c.summary() for c in blocking) + ", so nothing was committed"
            )

    @staticmethod
    def _readable_columns(
        copies: Mapping[str, Sequence[tuple[Any, ...]]], folders: dict[str, str]
    ) -> None:
        """Fail the step, committing nothing, when an output has a column Spark or Trino
        could not read (``domain/columns.py``), naming every such column of every output."""
        import pyarrow.parquet as pq

        problems = [
            f"output {name!r}: {msg}"
            for name, rows in copies.items()
            if rows
            for _, msg in unreadable_names(pq.read_schema(rows[0][0]).names)
        ]
        if problems:
            for folder in folders.values():
                shutil.rmtree(folder, ignore_errors=True)
            raise StepFailed("; ".join(problems) + " (AS in the SQL), so nothing was committed")

    @staticmethod
    def _commit(
        table: str, copy: list[tuple[Any, ...]], base: Any
    ) -> tuple[delta.WrittenVersion, Any]:
        """Commit the written files as the next version (and the base it was made on). A
        step's output replaces the whole dataset, so when another writer committed first ours
        simply lands after theirs: retried on a fresh snapshot (``retry.until_committed``;
        the files are already there). The checkpoint every 100th version is left to the
        cache's background thread (``TableCache.give_back``), off the step's path."""
        return retry.until_committed(
            lambda b: delta.commit_copy(table, copy, base=b, checkpoint=False),
            base,
            lambda b: brought_forward(table, b),
        )
