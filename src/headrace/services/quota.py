"""The organisation's storage quota as the services read and enforce it (``domain.quota``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import Connection

from headrace.domain.quota import StorageQuota
from headrace.errors import PayloadTooLarge
from headrace.persistence.db import Database
from headrace.persistence.repositories import datasets as datasets_repo


def read(conn: Connection, org_id: uuid.UUID, limit: int) -> StorageQuota | None:
    """The organisation's quota and usage now; None when there is no quota (``limit`` 0),
    without reading anything."""
    if limit <= 0:
        return None
    return StorageQuota(limit, datasets_repo.stored_bytes(conn, org_id))


def admission(db: Database, org_id: uuid.UUID, limit: int) -> Callable[[int], None] | None:
    """What a write calls with the bytes of the version it is about to commit: raises 413
    when they do not fit what is left of the quota (the usage read then, so a long upload
    sees what others committed meanwhile). None when there is no quota."""
    if limit <= 0:
        return None

    def admit(new_bytes: int) -> None:
        with db.unit_of_work(write=False) as conn:
            quota = read(conn, org_id, limit)
        if quota is not None and new_bytes > quota.left:
            raise PayloadTooLarge(quota.refusal(f"the new version's {new_bytes:,} bytes"))

    return admit
