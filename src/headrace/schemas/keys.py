"""API keys: the secret appears only in the answer to their creation."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel

from headrace.domain.access import Role
from headrace.domain.records import ApiKeyRecord
from headrace.schemas.common import Strict


class ApiKeyCreate(Strict):
    name: str
    role: Role


class ApiKeyRead(BaseModel):
    id: uuid.UUID
    name: str
    key_prefix: str
    role: Role
    created_at: dt.datetime

    @classmethod
    def of(cls, key: ApiKeyRecord) -> ApiKeyRead:
        return cls(
            id=key.id,
            name=key.name,
            key_prefix=key.key_prefix,
            role=Role(key.role),
            created_at=key.created_at,
        )


class ApiKeyCreated(ApiKeyRead):
    api_key: str
