"""Roles of API keys and what each may do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # read
    BUILDER = "builder"  # read, create, run, upload
    ADMIN = "admin"  # everything, keys included

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {Role.VIEWER: 0, Role.BUILDER: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key of one organisation with one role."""

    org_id: uuid.UUID
    key_id: uuid.UUID
    role: Role
