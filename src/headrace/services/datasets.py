"""Datasets: the catalog rows in the metadata store and the Delta tables in the warehouse."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from headrace.persistence.db import Database
from headrace.persistence.repositories import datasets as repo
from headrace.services.clock import utcnow
from headrace.storage.delta import WrittenVersion


def ensure(db: Database, org_id: uuid.UUID, name: str) -> uuid.UUID:
    """The id of the dataset ``name``, creating its catalog row when it does not exist yet.

    Two writers may create the same new dataset at once; the loser of the insert race reads
    the winner's row."""
    for _ in range(2):
        with db.unit_of_work() as conn:
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
            conn, dataset_id, written, utcnow(),
            operation=operation, key_id=key_id, run_id=run_id, step_name=step_name,
        )