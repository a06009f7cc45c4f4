"""Keyset pagination on (created_at, id): no gaps or repeats while rows are being added."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_


@dataclass(frozen=True)
class Keyset:
    """The position after which the next page starts."""

    created_at: dt.datetime
    id: uuid.UUID


def page(
    query: Select[Any],
    created: ColumnElement[Any],
    ident: ColumnElement[Any],
    *,
    after: Keyset | None,
    limit: int,
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
