"""The sweep: what writes cut short left behind, removed once it is surely abandoned.

- a Delta commit the catalog never recorded and older than ``unrecorded_grace_seconds`` is
  rolled back to the recorded version (``storage/unrecorded.py``);
- Parquet files no version of the log names, write folders left empty, table folders with
  no catalog row, and files staged in the scratch folder, each once nothing in it changed for
  ``unrecorded_grace_seconds + step_timeout_seconds``: a step may compute for up to its
  timeout before its output file is written, and its write folder exists all that time;
- Idempotency-Key records past their 24 hours (``services/idempotency.py``).
- Deliveries (webhooks, OpenLineage) delivered or given up longer ago than
  ``delivery_retention_days`` (``services/dispatch.py``).

Files of older versions are never touched (this is not Delta's ``vacuum``). Safe beside live
writers and other sweeps: everything young is left, a rollback never lands over a newer
commit, and a file already gone is skipped. Object-store warehouses are not swept (their
abandoned commits are still rolled back by the next upsert).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from headrace.persistence.db import Database
from headrace.persistence.repositories import datasets as repo
from headrace.services import idempotency
from headrace.services.datasets import scratch_folder
from headrace.services.dispatch import forget_finished
from headrace.storage import orphans, unrecorded
from headrace.storage.orphans import Removed

if TYPE_CHECKING:
    from headrace.runtime import Runtime

log = logging.getLogger("headrace.sweep")


@dataclass(frozen=True)
class RolledBack:
    table: str
    abandoned: int  # the unrecorded version rolled back
    recorded: int  # the version the table holds again


@dataclass
class SweepReport:
    removed: list[Removed] = field(default_factory=list)
    rolled_back: list[RolledBack] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # tables left for the next sweep
    skipped: str | None = None  # why the warehouse itself was not swept
    forgotten_keys: int = 0  # Idempotency-Key records dropped
    forgotten_deliveries: int = 0  # finished deliveries dropped

    @property
    def bytes_freed(self) -> int:
        return sum(r.bytes for r in self.removed)


def _hex_folders(folder: str) -> dict[uuid.UUID, str]:
    """The sub-folders of ``folder`` named like the warehouse names them (an id in hex)."""
    found = {}
    for entry in os.scandir(folder):
        try:
            key = uuid.UUID(hex=entry.name)
        except ValueError:
            continue
        if entry.is_dir(follow_symlinks=False) and entry.name == key.hex:
            found[key] = entry.path
    return found


def _sweep_table(
    db: Database,
    grace_seconds: float,
    report: SweepReport,
    table: str,
    ids: tuple[uuid.UUID, uuid.UUID],
    before: float,
) -> None:
    """Roll back an abandoned commit of one catalogued table, then remove its unreferenced
    files. The recorded version is read right before: one recorded since the sweep began
    must not be taken for abandoned."""
    with db.unit_of_work(write=False) as conn:
        row = repo.by_id(conn, *ids)
    if row is None:  # deleted meanwhile; its folder is an orphan for the next sweep
        return
    settled = unrecorded.settle(table, row.current_version, grace_seconds)
    if settled.rolled_back is not None:
        report.rolled_back.append(RolledBack(table, settled.rolled_back, row.current_version))
    report.removed += orphans.remove_unreferenced(table, before)


def sweep(runtime: Runtime) -> SweepReport:
    """One sweep of the scratch folder and of every table of the runtime's warehouse, when
    it is a local one."""
    db, settings, warehouse = runtime.db, runtime.settings, runtime.warehouse
    report = SweepReport()
    report.forgotten_keys = idempotency.forget_expired(db, dt.datetime.now(dt.UTC))
    report.forgotten_deliveries = forget_finished(
        db, dt.datetime.now(dt.UTC), settings.delivery_retention_days
    )
    before = time.time() - settings.unrecorded_grace_seconds - settings.step_timeout_seconds
    report.removed += orphans.remove_old_files(scratch_folder(settings), before)
    if warehouse.store is not None:
        report.skipped = f"the warehouse {warehouse.root} is in object storage, which is not swept"
        log.info("sweep: %s", report.skipped)
        return report
    if not os.path.isdir(warehouse.root):
        return report
    # Folders are listed before the catalog is read, so a dataset recorded in between is known.
    folders = {
        (org_id, dataset_id): path
        for org_id, org_folder in _hex_folders(warehouse.root).items()
        for dataset_id, path in _hex_folders(org_folder).items()
    }
    with db.unit_of_work(write=False) as conn:
        catalogued = repo.every_table(conn)
    for ids, path in sorted(folders.items()):
        try:
            if ids in catalogued:
                _sweep_table(db, settings.unrecorded_grace_seconds, report, path, ids, before)
            else:
                removed = orphans.remove_abandoned_folder(path, before)
                report.removed += [removed] if removed is not None else []
        except Exception:
            log.exception("sweep: %s could not be swept; the next sweep tries again", path)
            report.failed.append(path)
    return report


def sweep_every(runtime: Runtime, stopping: threading.Event) -> None:
    """Sweep now and then every ``sweep_interval_seconds`` until ``stopping`` is set (the
    companion of ``headrace serve``'s worker). A failed sweep is logged and never raised: the
    next one tries again."""
    settings = runtime.settings
    while not stopping.is_set():
        try:
            report = sweep(runtime)
            if report.removed or report.rolled_back:
                log.info(
                    "sweep: removed %d files and folders (%d bytes), rolled back %d commits",
                    len(report.removed),
                    report.bytes_freed,
                    len(report.rolled_back),
                )
        except Exception:
            log.exception("sweep failed; it runs again in %s s", settings.sweep_interval_seconds)
        stopping.wait(settings.sweep_interval_seconds)


def start_sweeper(runtime: Runtime) -> threading.Event:
    """``sweep_every`` on a daemon thread of its own, beside a worker and not in its loop (a
    sweep of a large warehouse must not hold up runs); set the event returned to stop it."""
    stopping = threading.Event()
    threading.Thread(
        target=sweep_every, args=(runtime, stopping), name="headrace-sweep", daemon=True
    ).start()
    return stopping
