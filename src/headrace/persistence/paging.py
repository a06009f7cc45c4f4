"""Keyset pagination on (created_at, id): no gaps or repeats while rows are being added."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Select, and_, bindparam, or_


@dataclass(frozen=True)
class Keyset:
    """The position after which the next page starts."""

    created_at: dt.datetime
    id: uuid.UUID


@dataclass(frozen=True)
class KeysetParameters:
    """A position given when the statement is executed, for a statement built once: the
    parameters ``after_created_at`` and ``after_id``."""

    created_at: BindParameter[Any] = field(default_factory=lambda: bindparam("after_created_at"))
    id: BindParameter[Any] = field(default_factory=lambda: bindparam("after_id"))

    @staticmethod
    def values(after: Keyset) -> dict[str, Any]:
        return {"after_created_at": after.created_at, "after_id": after.id}


def page(
    query: Select[Any],
    created: ColumnElement[Any],
    ident: ColumnElement[Any],
    *,
    after: Keyset | KeysetParameters | None,
    limit: int | BindParameter[int],
    newest_first: bool,
) -> Select[Any]:
    """Order ``query`` by (created, id) and keep ``limit`` rows after ``after``."""
    if after is not None:
        if newest_first:
            query = query.where(
                or_(created < after.created_at, and_(created == after.created_at, ident < after.id))
            )
        else:
            query = query.where(
                or_(created > after.created_at, and_(created == after.created_at, ident > after.id))
            )
    order = (created.desc(), ident.desc()) if newest_first else (created.asc(), ident.asc())
    return query.order_by(*order).limit(limit)
