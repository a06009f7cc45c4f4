"""Datasets: the catalog rows in the metadata store and the Delta tables in the warehouse."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from headrace.domain import rows as rows_domain
from headrace.domain.access import Principal
from headrace.domain.problems import Problem
from headrace.domain.records import DatasetRecord, DatasetVersionRecord
from headrace.domain.validation import check_name
from headrace.errors import Conflict, InvalidInput, NotFound
from headrace.persistence.db import Database
from headrace.persistence.paging import Keyset
from headrace.persistence.repositories import datasets as repo
from headrace.persistence.repositories import pipelines as pipelines_repo
from headrace.services import quota
from headrace.services.clock import utcnow
from headrace.settings import Settings
from headrace.storage import delta, ingest, parquet_import, reading
from headrace.storage import upsert as upsert_store
from headrace.storage.delta import WrittenVersion
from headrace.storage.duck import ServiceDuck, literal

if TYPE_CHECKING:
    from headrace.runtime import Runtime


def ensure(db: Database, org_id: uuid.UUID, name: str) -> uuid.UUID:
    """The id of the dataset ``name``, creating its catalog row when it does not exist yet.

    Two writers may create the same new dataset at once; the loser of the insert race reads
    the winner's row."""
    for _ in range(2):
        with db.unit_of_work(write=False) as conn:
            row = repo.by_name(conn, org_id, name)
            if row is not None:
                return uuid.UUID(str(row.id))
        dataset_id = uuid.uuid4()
        try:
            with db.unit_of_work() as conn:
                repo.add(conn, org_id, dataset_id, name, utcnow())
            return dataset_id
        except IntegrityError:
            continue
    raise RuntimeError(f"dataset {name!r} could be neither found nor created")


def record_version(
    db: Database,
    dataset_id: uuid.UUID,
    written: WrittenVersion,
    *,
    operation: str,
    key_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    step_name: str | None = None,
) -> None:
    """Record a committed Delta version as the dataset's current version, with its writer."""
    with db.unit_of_work() as conn:
        repo.add_written(
            conn,
            dataset_id,
            written,
            utcnow(),
            operation=operation,
            key_id=key_id,
            run_id=run_id,
            step_name=step_name,
        )


# --- use cases of the /datasets/ API -------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    """An uploaded file, already on local disk; ``ours`` when it is a spool file of ours
    that the import may take (hard-link) instead of copying."""

    path: str
    filename: str | None
    content_type: str | None
    ours: bool = False


@dataclass(frozen=True)
class DatasetDetail:
    dataset: DatasetRecord
    versions: list[DatasetVersionRecord]


@dataclass(frozen=True)
class Export:
    """A version written to a temporary file; the caller streams and then deletes it."""

    path: str
    filename: str
    media_type: str


def scratch_folder(settings: Settings) -> str:
    """Where uploads and exports are staged: on disk next to the data, never in memory."""
    folder = os.path.join(str(settings.data_dir.resolve()), "tmp")
    os.makedirs(folder, exist_ok=True)
    return folder


def _check_name(name: str, loc: tuple[str, ...]) -> None:
    problems = check_name(name, loc, "dataset name")
    if problems:
        raise InvalidInput(problems[0].msg, problems)


def _check_cells(duck: ServiceDuck, path: str, max_bytes: int) -> None:
    """422 when a Parquet file holds a value larger than ``max_bytes``: a few kB of
    compressed file can hold gigabytes of text, which every later read would pay for. The
    file is read only when its footer cannot prove every value smaller."""
    meta = parquet_import.plain(path)
    if meta is not None and parquet_import.cells_within(meta, max_bytes):
        return
    found = reading.largest_cells(duck, f"read_parquet({literal(path)})", max_bytes)
    if found:
        raise InvalidInput(
            f"the file holds values larger than the {max_bytes} bytes a cell may hold",
            [
                Problem(("body", "file", column), f"a value of {size} bytes", "cell.too_large")
                for column, size in found
            ],
        )


def _load(conn: Connection, who: Principal, dataset_id: uuid.UUID) -> DatasetRecord:
    found = repo.record(conn, who.org_id, dataset_id)
    if found is None:
        raise NotFound(f"there is no dataset {dataset_id}")
    return found


def _write(
    rt: Runtime,
    who: Principal,
    name: str,
    operation: str,
    write: Callable[[str, int | None], WrittenVersion],
) -> DatasetRecord:
    """Run ``write(table, recorded)`` and record the version it committed; ``recorded`` is
    the catalog's current version (None for a new dataset), which a merge builds on.

    A new dataset gets its catalog row only together with its first version, so a refused
    file leaves no empty dataset behind; its table is written under a fresh id first. When a
    concurrent writer creates the same name meanwhile, that table is dropped and the write
    goes again into the winner's dataset."""
    db, warehouse = rt.db, rt.warehouse
    for _ in range(3):
        with db.unit_of_work(write=False) as conn:
            existing = repo.by_name(conn, who.org_id, name)
        if existing is not None:
            dataset_id = uuid.UUID(str(existing.id))
            written = write(warehouse.table(who.org_id, dataset_id), existing.current_version)
            record_version(db, dataset_id, written, operation=operation, key_id=who.key_id)
        else:
            dataset_id = uuid.uuid4()
            try:
                written = write(warehouse.table(who.org_id, dataset_id), None)
            except BaseException:
                warehouse.remove_table(who.org_id, dataset_id)
                raise
            try:
                with db.unit_of_work() as conn:
                    now = utcnow()
                    repo.add(conn, who.org_id, dataset_id, name, now)
                    repo.add_written(
                        conn, dataset_id, written, now, operation=operation, key_id=who.key_id
                    )
            except IntegrityError:
                warehouse.remove_table(who.org_id, dataset_id)
                continue
        with db.unit_of_work(write=False) as conn:
            return _load(conn, who, dataset_id)
    raise Conflict(f"dataset {name!r} was being created by another request; try again")


def upload(rt: Runtime, who: Principal, name: str, source: SourceFile) -> DatasetRecord:
    """A file (CSV, Parquet, JSON lines) as a new dataset or the next version of one; 413
    when the version would not fit the organisation's storage quota (``services.quota``)."""
    _check_name(name, ("body", "name"))
    fmt = ingest.detect_format(source.filename, source.content_type)
    if fmt is None:
        raise InvalidInput(
            "the file's format is not known: name it .csv, .parquet, .jsonl, .ndjson or .json",
            [Problem(("body", "file"), "unknown file format", "file.format")],
        )
    shown = os.path.basename(source.filename or f"upload.{fmt.value}")
    if fmt is ingest.Format.PARQUET:
        _check_cells(rt.duck, source.path, rt.settings.max_cell_bytes)
    admit = quota.admission(rt.db, who.org_id, rt.settings.org_storage_quota_bytes)
    return _write(
        rt,
        who,
        name,
        "upload",
        lambda table, _recorded: ingest.ingest(
            rt.duck, table, source.path, fmt, shown, admit, ours=source.ours
        ),
    )


def republish(rt: Runtime, who: Principal, name: str, version: int) -> DatasetRecord:
    """``version`` of the dataset again as its newest version, sharing that version's files:
    a source file that has not changed since it became ``version`` is loaded again without
    being read, when a run has written the dataset since. Recorded as that version was
    (an upload, with its figures)."""
    with rt.db.unit_of_work(write=False) as conn:
        found = repo.by_name(conn, who.org_id, name)
        kept = (
            []
            if found is None
            else [v for v in repo.version_records(conn, found.id) if v.version == version]
        )
    if not kept:
        raise NotFound(f"dataset {name!r} has no version {version}")
    (old,) = kept

    def write(table: str, _recorded: int | None) -> WrittenVersion:
        return WrittenVersion(
            version=delta.restore(table, version),
            row_count=old.row_count,
            bytes=old.bytes,
            schema=old.schema,
        )

    return _write(rt, who, name, old.operation, write)


def upsert(
    rt: Runtime,
    who: Principal,
    name: str,
    key: str,
    data: Sequence[Mapping[str, Any]],
    data_schema: Mapping[str, str] | None,
    *,
    check_schema: bool,
) -> DatasetRecord:
    """Merge ``data`` by ``key`` into a new version (creating the dataset when missing).

    With ``check_schema`` every field must be a column of the dataset (or of ``data_schema``
    for a new one) and every value must fit its column's type; otherwise new fields become
    new columns and values are cast. ``data_schema`` types new columns and may not change
    the type of an existing one. 413 when the new version would not fit the organisation's
    storage quota (``services.quota``)."""
    _check_name(name, ("body", "dataset_name"))
    declared = upsert_store.resolve_types(rt.duck, data_schema or {})

    grace = rt.settings.unrecorded_grace_seconds
    admit = quota.admission(rt.db, who.org_id, rt.settings.org_storage_quota_bytes)

    def write(table: str, recorded: int | None) -> WrittenVersion:
        current = upsert_store.current_columns(rt.duck, table, recorded, grace)
        clashes = [
            Problem(
                ("body", "data_schema", n), f"column {n!r} is {current[n]}, not {t}", "type.changed"
            )
            for n, t in declared.items()
            if current is not None and n in current and current[n] != t
        ]
        reference = current if current is not None else (declared or None)
        found = clashes + rows_domain.check_upsert(data, key, reference, strict=check_schema)
        if found:
            raise InvalidInput(f"the rows have {len(found)} problem(s)", found)
        return upsert_store.upsert(
            rt.duck,
            table,
            data,
            key,
            recorded=recorded,
            grace_seconds=grace,
            declared=declared,
            allow_new_columns=not check_schema,
            scratch=scratch_folder(rt.settings),
            admit=admit,
        )

    return _write(rt, who, name, "upsert", write)


def list_all(db: Database, who: Principal, after: Keyset | None, limit: int) -> list[DatasetRecord]:
    with db.unit_of_work(write=False) as conn:
        return repo.records(conn, who.org_id, after=after, limit=limit)


def get(db: Database, who: Principal, dataset_id: uuid.UUID) -> DatasetDetail:
    with db.unit_of_work(write=False) as conn:
        dataset = _load(conn, who, dataset_id)
        return DatasetDetail(dataset, repo.version_records(conn, dataset_id))


def _readable(
    rt: Runtime, who: Principal, dataset_id: uuid.UUID, version: int | None
) -> tuple[DatasetRecord, str, int]:
    """The dataset, its table and the version to read (the current one by default)."""
    with rt.db.unit_of_work(write=False) as conn:
        dataset = _load(conn, who, dataset_id)
        wanted = dataset.current_version if version is None else version
        if wanted is None:
            raise NotFound(f"dataset {dataset.name!r} has no version yet")
        if not repo.has_version(conn, dataset_id, wanted):
            raise NotFound(f"dataset {dataset.name!r} has no version {wanted}")
    return dataset, rt.warehouse.table(who.org_id, dataset_id), wanted


def rows(
    rt: Runtime,
    who: Principal,
    dataset_id: uuid.UUID,
    *,
    version: int | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """A page of a version's rows as JSON-safe objects (413 past max_preview_bytes)."""
    _, table, wanted = _readable(rt, who, dataset_id, version)
    return reading.preview(
        rt.duck, table, wanted, limit, offset, max_bytes=rt.settings.max_preview_bytes
    )


def export(
    rt: Runtime,
    who: Principal,
    dataset_id: uuid.UUID,
    *,
    version: int | None,
    fmt: reading.ExportFormat,
) -> Export:
    """The version as a temporary Parquet or CSV file; the caller deletes it."""
    dataset, table, wanted = _readable(rt, who, dataset_id, version)
    fd, path = tempfile.mkstemp(
        prefix="export-", suffix=f".{fmt.value}", dir=scratch_folder(rt.settings)
    )
    os.close(fd)
    try:
        reading.export(rt.duck, table, wanted, fmt, path)
    except BaseException:
        os.remove(path)
        raise
    media = "application/vnd.apache.parquet" if fmt is reading.ExportFormat.PARQUET else "text/csv"
    return Export(path, f"{dataset.name}-v{wanted}.{fmt.value}", media)


def delete(rt: Runtime, who: Principal, dataset_id: uuid.UUID) -> None:
    """Delete the dataset, every version and its table; 409 while a pipeline reads it."""
    with rt.db.unit_of_work() as conn:
        dataset = _load(conn, who, dataset_id)
        readers = pipelines_repo.pipelines_reading(conn, who.org_id, dataset.name)
        if readers:
            raise Conflict(
                f"dataset {dataset.name!r} is read by the current version of pipeline(s) "
                + ", ".join(repr(r) for r in readers),
                [
                    Problem(("pipelines", r), "reads this dataset", "dataset.in_use")
                    for r in readers
                ],
            )
        repo.remove(conn, dataset_id)
    rt.warehouse.remove_table(who.org_id, dataset_id)
