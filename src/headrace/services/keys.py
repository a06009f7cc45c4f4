"""Organisations, API keys and authentication.

A key is ``hr_`` plus 32 random bytes (URL-safe base64); only its SHA-256 is stored. The keys
carry 256 bits of entropy, so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from headrace.caching import Cache
from headrace.domain.access import Principal, Role
from headrace.domain.names import check_label
from headrace.domain.problems import Loc
from headrace.domain.records import ApiKeyRecord
from headrace.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from headrace.persistence.db import Database
from headrace.persistence.paging import Keyset
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


def _checked_label(value: str, loc: Loc, what: str) -> str:
    problems = check_label(value, loc, what)
    if problems:
        raise InvalidInput(problems[0].msg, problems)
    return value


def create_org(db: Database, name: str) -> NewKey:
    """A new organisation and its first admin key."""
    _checked_label(name, ("name",), "the organisation name")
    return _issue(db, uuid.uuid4(), "admin", Role.ADMIN, new_org=name)


def create_key(db: Database, who: Principal, name: str, role: Role) -> NewKey:
    _checked_label(name, ("body", "name"), "the key name")
    return _issue(db, who.org_id, name, role, new_org=None)


def list_keys(db: Database, who: Principal, after: Keyset | None, limit: int) -> list[ApiKeyRecord]:
    with db.unit_of_work(write=False) as conn:
        return repo.list_for_org(conn, who.org_id, after=after, limit=limit)


# A process looks for keys revoked elsewhere this often, so that one revoked through another
# API process or server stops working here within a second.
REVOCATION_CHECK_SECONDS = 0.5
# How far back each look goes before the previous one began: revoked_at is the revoking
# process's clock, and its transaction may commit a while after it took that time.
REVOCATION_OVERLAP = dt.timedelta(seconds=60)


class KeyCache:
    """The records of keys this process has recently looked up, each kept for ``seconds``.

    Every request names its key, and looking it up is a transaction of its own (on
    PostgreSQL a pool checkout with its ping, the query, the commit): a tenth of a listing
    page's CPU. Only valid keys are kept, so a new key works at once and unknown ones cannot
    fill the cache. A key revoked through this process is forgotten at once; keys revoked
    elsewhere (another API process or server) are found by one small query every
    ``REVOCATION_CHECK_SECONDS`` (``authenticate`` makes it when ``get`` says it is due), so
    they stop working here within that time plus one request."""

    def __init__(
        self,
        seconds: float,
        max_items: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.max_items = max_items
        self._clock = clock
        self._lock = threading.Lock()  # of the revocation checks; the cache has its own
        self._items: Cache[str, ApiKeyRecord] = Cache(max_items, ttl=seconds, timer=clock)
        self._next_check = 0.0
        self._checked_since: dt.datetime | None = None

    def _check_due(self) -> bool:
        return self._clock() >= self._next_check

    def get(self, key_hash: str) -> ApiKeyRecord | None:
        """The kept record, or None when there is none or revocations must be looked for
        first."""
        with self._lock:
            if self._check_due():
                return None
        return self._items.get(key_hash)

    def put(self, key_hash: str, record: ApiKeyRecord) -> None:
        self._items.put(key_hash, record)

    def forget(self, key_id: uuid.UUID) -> None:
        self._forget({key_id})

    def _forget(self, key_ids: set[uuid.UUID]) -> None:
        for key_hash, record in self._items.items():
            if record.id in key_ids:
                self._items.pop(key_hash)

    def check_revocations(self, conn: Connection) -> None:
        """Forget the kept keys revoked since the last check (with some overlap), when a check
        is due. An empty cache has nothing to forget: it only notes the time."""
        with self._lock:
            if not self._check_due():
                return
            since, began = self._checked_since, utcnow()
            self._next_check = self._clock() + REVOCATION_CHECK_SECONDS
            kept = len(self._items) > 0
        revoked: set[uuid.UUID] = set()
        if since is not None and kept:
            revoked = set(repo.revoked_since(conn, since - REVOCATION_OVERLAP))
        self._forget(revoked)
        with self._lock:
            self._checked_since = began


def revoke_key(
    db: Database, who: Principal, key_id: uuid.UUID, cache: KeyCache | None = None
) -> None:
    with db.unit_of_work() as conn:
        if repo.lock_active_admins(conn, who.org_id) == {key_id}:
            raise Conflict(
                "this is the organisation's last admin key: create another admin key first"
            )
        if not repo.revoke(conn, who.org_id, key_id, utcnow()):
            raise NotFound(f"there is no active API key {key_id}")
    if cache is not None:
        cache.forget(key_id)


def _checked_secret(secret: str | None) -> str:
    if not secret:
        raise Unauthorized(
            "an API key is required: send 'Authorization: Bearer <key>' or 'Api-key: <key>'"
        )
    return secret


def _principal(record: ApiKeyRecord, current_org: str | None) -> Principal:
    if current_org is not None and current_org.strip().lower() != str(record.org_id):
        raise Forbidden("Current-Org-Id does not match the API key's organisation")
    return Principal(org_id=record.org_id, key_id=record.id, role=Role(record.role))


def cached_principal(
    cache: KeyCache, secret: str | None, current_org: str | None
) -> Principal | None:
    """The caller behind ``secret`` if ``cache`` holds its key (no I/O); else None."""
    record = cache.get(_hash(_checked_secret(secret)))
    return _principal(record, current_org) if record is not None else None


def authenticate(
    db: Database, secret: str | None, current_org: str | None, cache: KeyCache | None = None
) -> Principal:
    """The caller behind ``secret``, looked up (and kept in ``cache``, after the cache has
    forgotten the keys revoked elsewhere if that was due); 401 when it is missing, unknown or
    revoked."""
    key_hash = _hash(_checked_secret(secret))
    with db.unit_of_work(write=False) as conn:
        record = None
        if cache is not None:
            cache.check_revocations(conn)
            record = cache.get(key_hash)
        if record is None:
            record = repo.by_hash(conn, key_hash)
    if record is None or record.revoked_at is not None:
        raise Unauthorized("the API key is not valid")
    if cache is not None:
        cache.put(key_hash, record)
    return _principal(record, current_org)


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
