"""Organisations, API keys and authentication.

A key is ``hr_`` plus 32 random bytes (URL-safe base64); only its SHA-256 is stored. The keys
carry 256 bits of entropy, so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from headrace.domain.access import Principal, Role
from headrace.errors import Forbidden, NotFound, Unauthorized
from headrace.persistence.db import Database
from headrace.persistence.paging import Keyset
from headrace.persistence.records import ApiKeyRecord
from headrace.persistence.repositories import keys as repo
from headrace.services.clock import utcnow

KEY_PREFIX = "hr_"
PREFIX_LENGTH = 10


@dataclass(frozen=True)
class NewKey:
    record: ApiKeyRecord
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _issue(
    db: Database, org_id: uuid.UUID, name: str, role: Role, *, new_org: str | None
) -> NewKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    key_id = uuid.uuid4()
    with db.unit_of_work() as conn:
        if new_org is not None:
            repo.add_org(conn, org_id, new_org, now)
        repo.add_key(
            conn,
            key_id=key_id,
            org_id=org_id,
            name=name,
            role=role.value,
            key_prefix=secret[:PREFIX_LENGTH],
            key_hash=_hash(secret),
            now=now,
        )
    record = ApiKeyRecord(
        id=key_id,
        org_id=org_id,
        name=name,
        role=role.value,
        key_prefix=secret[:PREFIX_LENGTH],
        created_at=now,
        revoked_at=None,
    )
    return NewKey(record=record, secret=secret)


def create_org(db: Database, name: str) -> NewKey:
    """A new organisation and its first admin key."""
    return _issue(db, uuid.uuid4(), "admin", Role.ADMIN, new_org=name)


def create_key(db: Database, who: Principal, name: str, role: Role) -> NewKey:
    return _issue(db, who.org_id, name, role, new_org=None)


def list_keys(db: Database, who: Principal, after: Keyset | None, limit: int) -> list[ApiKeyRecord]:
    with db.unit_of_work(write=False) as conn:
        return repo.list_for_org(conn, who.org_id, after=after, limit=limit)


def revoke_key(db: Database, who: Principal, key_id: uuid.UUID) -> None:
    with db.unit_of_work() as conn:
        if not repo.revoke(conn, who.org_id, key_id, utcnow()):
            raise NotFound(f"there is no active API key {key_id}")


def authenticate(db: Database, secret: str | None, current_org: str | None) -> Principal:
    """The caller behind ``secret``; 401 when it is missing, unknown or revoked."""
    if not secret:
        raise Unauthorized(
            "an API key is required: send 'Authorization: Bearer <key>' or 'Api-key: <key>'"
        )
    with db.unit_of_work(write=False) as conn:
        record = repo.by_hash(conn, _hash(secret))
    if record is None or record.revoked_at is not None:
        raise Unauthorized("the API key is not valid")
    if current_org is not None and current_org.strip().lower() != str(record.org_id):
        raise Forbidden("Current-Org-Id does not match the API key's organisation")
    return Principal(org_id=record.org_id, key_id=record.id, role=Role(record.role))


def local_principal(db: Database, org_name: str = "local") -> Principal:
    """The admin of the organisation that ``headrace run`` works in, made on first use."""
    with db.unit_of_work(write=False) as conn:
        org_id = repo.org_by_name(conn, org_name)
        admins = [
            k
            for k in (repo.list_for_org(conn, org_id, after=None, limit=100) if org_id else [])
            if k.role == Role.ADMIN
        ]
    if admins:
        return Principal(org_id=admins[0].org_id, key_id=admins[0].id, role=Role.ADMIN)
    new = (
        create_org(db, org_name)
        if org_id is None
        else _issue(db, org_id, "local", Role.ADMIN, new_org=None)
    )
    return Principal(org_id=new.record.org_id, key_id=new.record.id, role=Role.ADMIN)
