"""Idempotency-Key: a POST sent again with the same key gets its first answer, and creates
nothing more.

A client that lost the answer to a POST (a timeout, a dropped connection) cannot know
whether it was handled: with a key of its choosing it sends the POST again and gets the
first answer, never a second run or a second pipeline. The key belongs to the caller's
organisation for ``WINDOW``; the same key with another request is refused (422), and while
the first request is still being handled the same key is answered 409 (the IETF draft's
statuses). Only a success is kept: after an error nothing was created, and the request may
be sent again with the same key.

The answer is kept sealed (AES-GCM) under a key derived from the caller's API key, which the
store never holds: the answer to ``POST /api-keys/`` shows a secret once, and the store must
not keep it readable. So the same caller replays, another key of the organisation is refused.

What stays possible: a server killed after the request's own transaction committed and
before its answer was kept has taken the key but kept nothing; after ``ABANDONED`` the key
is free again, and a retry then does the work a second time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from headrace.domain.access import Principal
from headrace.domain.problems import Problem
from headrace.errors import Conflict, InvalidInput
from headrace.persistence.db import Database
from headrace.persistence.repositories import idempotency as repo

WINDOW = dt.timedelta(hours=24)
# A request in flight longer than this is taken for dead (its server was killed), so that its
# key does not stay refused for the whole window.
ABANDONED = dt.timedelta(minutes=15)
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_LOC = ("header", HEADER)


@dataclass(frozen=True)
class Answer:
    """A response as it was sent: status, raw headers, body."""

    status: int
    headers: Sequence[tuple[bytes, bytes]]
    body: bytes

    def pack(self) -> bytes:
        head = json.dumps([[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers])
        return f"{self.status}\n{head}\n".encode() + self.body

    @classmethod
    def unpack(cls, packed: bytes) -> Answer:
        status, head, body = packed.split(b"\n", 2)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in json.loads(head)]
        return cls(int(status), headers, body)


@dataclass(frozen=True)
class Caller:
    """Who sends the key: the principal, and the secret of their API key (to seal with)."""

    who: Principal
    secret: str

    def sealing_key(self) -> bytes:
        return hmac.new(self.secret.encode(), b"headrace idempotency", hashlib.sha256).digest()


@dataclass(frozen=True)
class Taken:
    """The key is this request's: handle it, then ``keep`` its answer or ``release`` the key."""

    taken_at: dt.datetime


@dataclass(frozen=True)
class Known:
    """The key's first request was answered: replay it if this request is the same."""

    record: repo.KeyRecord


def check_key(key: str) -> None:
    """422 for a key that is empty, too long or not visible ASCII."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        raise InvalidInput(
            f"the {HEADER} header must be 1 to {MAX_KEY_LENGTH} visible ASCII characters",
            [Problem(_LOC, "not 1 to 255 visible ASCII characters", "idempotency_key.invalid")],
        )


def begin(db: Database, caller: Caller, key: str, now: dt.datetime) -> Taken | Known:
    """Take ``key`` for this request, or find its first request's answer; 409 while that
    request is still in flight. An expired record (or one abandoned in flight) is replaced."""
    org = caller.who.org_id
    with db.unit_of_work() as conn:
        if repo.take(conn, org, key, caller.who.key_id, now):
            return Taken(now)
        found = repo.get(conn, org, key)
        if found is not None and _expired(found, now):
            repo.drop(conn, org, key, taken_at=found.created_at)
            found = None if repo.take(conn, org, key, caller.who.key_id, now) else found
            if found is None:
                return Taken(now)
    if found is None or found.request_hash is None:
        raise Conflict(
            f"a request with this {HEADER} is still being handled; "
            "send it again once it has been answered",
            [Problem(_LOC, "the first request with this key is in flight", "idempotency_key.busy")],
        )
    return Known(found)


def _expired(record: repo.KeyRecord, now: dt.datetime) -> bool:
    limit = WINDOW if record.request_hash is not None else ABANDONED
    return record.created_at + limit <= now


def replay(known: Known, caller: Caller, key: str, request_hash: str) -> Answer:
    """The first answer, if this request is the first one again (else 422)."""
    record = known.record
    if record.api_key_id != caller.who.key_id:
        raise InvalidInput(
            f"this {HEADER} was used by another API key of the organisation; use a new key",
            [Problem(_LOC, "used by another API key", "idempotency_key.reused")],
        )
    if record.request_hash != request_hash:
        raise InvalidInput(
            f"this {HEADER} was used for another request; use a new key for a new request",
            [Problem(_LOC, "used for another request", "idempotency_key.reused")],
        )
    assert record.response is not None
    return Answer.unpack(_open(caller, key, record.response))


def keep(
    db: Database, caller: Caller, key: str, taken: Taken, request_hash: str, answer: Answer
) -> None:
    """Keep the answer of the request that took ``key``, sealed."""
    sealed = _seal(caller, key, answer.pack())
    with db.unit_of_work() as conn:
        repo.complete(
            conn,
            caller.who.org_id,
            key,
            taken_at=taken.taken_at,
            request_hash=request_hash,
            status=answer.status,
            response=sealed,
        )


def release(db: Database, caller: Caller, key: str, taken: Taken) -> None:
    """Free ``key`` after a request that created nothing (an error), for a retry."""
    with db.unit_of_work() as conn:
        repo.drop(conn, caller.who.org_id, key, taken_at=taken.taken_at)


def forget_expired(db: Database, now: dt.datetime) -> int:
    """Drop the records past their window (the sweep calls this); how many."""
    with db.unit_of_work() as conn:
        return repo.drop_older(conn, completed_before=now - WINDOW, taken_before=now - ABANDONED)


def _associated(caller: Caller, key: str) -> bytes:
    return f"{caller.who.org_id}/{key}".encode()


def _seal(caller: Caller, key: str, plain: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return nonce + AESGCM(caller.sealing_key()).encrypt(nonce, plain, _associated(caller, key))


def _open(caller: Caller, key: str, sealed: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    box = AESGCM(caller.sealing_key())
    return box.decrypt(sealed[:12], sealed[12:], _associated(caller, key))
