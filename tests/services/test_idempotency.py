"""Idempotency-Key records over time: the 24-hour window, a request abandoned in flight, the
sweep, and the sealed answer."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from cryptography.exceptions import InvalidTag

from headrace.domain.access import Principal, Role
from headrace.errors import Conflict, InvalidInput
from headrace.persistence.db import Database
from headrace.services import idempotency, keys
from headrace.services.idempotency import Answer, Caller, Known, Taken

T0 = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
ANSWER = Answer(201, [(b"location", b"/pipelines/x/")], b'{"id": "x", "secret": "s3cr3t"}')


def _caller(db: Database) -> Caller:
    org = keys.create_org(db, f"idem-{uuid.uuid4().hex[:6]}")
    who = Principal(org.record.org_id, org.record.id, Role.ADMIN)
    return Caller(who, org.secret)


def test_an_answer_replays_for_24_hours_then_the_key_is_free(db: Database) -> None:
    caller = _caller(db)
    taken = idempotency.begin(db, caller, "k", T0)
    assert isinstance(taken, Taken)
    idempotency.keep(db, caller, "k", taken, "hash", ANSWER)
    found = idempotency.begin(db, caller, "k", T0 + dt.timedelta(hours=23, minutes=59))
    assert isinstance(found, Known)
    assert idempotency.replay(found, caller, "k", "hash") == Answer(
        ANSWER.status, list(ANSWER.headers), ANSWER.body
    )
    with pytest.raises(InvalidInput):
        idempotency.replay(found, caller, "k", "other hash")
    assert isinstance(idempotency.begin(db, caller, "k", T0 + dt.timedelta(hours=24)), Taken)


def test_a_request_in_flight_holds_its_key_until_it_is_taken_for_abandoned(db: Database) -> None:
    caller = _caller(db)
    assert isinstance(idempotency.begin(db, caller, "k", T0), Taken)
    with pytest.raises(Conflict):
        idempotency.begin(db, caller, "k", T0 + dt.timedelta(minutes=14))
    late = idempotency.begin(db, caller, "k", T0 + idempotency.ABANDONED)
    assert late == Taken(T0 + idempotency.ABANDONED)
    # the abandoned request, should it end after all, keeps nothing over its successor's record
    idempotency.keep(db, caller, "k", Taken(T0), "old", ANSWER)
    with pytest.raises(Conflict):
        idempotency.begin(db, caller, "k", T0 + idempotency.ABANDONED)


def test_released_keys_are_free_and_the_sweep_forgets_expired_ones(db: Database) -> None:
    caller = _caller(db)
    taken = idempotency.begin(db, caller, "released", T0)
    assert isinstance(taken, Taken)
    idempotency.release(db, caller, "released", taken)
    assert isinstance(idempotency.begin(db, caller, "released", T0), Taken)
    kept = idempotency.begin(db, caller, "kept", T0)
    assert isinstance(kept, Taken)
    idempotency.keep(db, caller, "kept", kept, "hash", ANSWER)
    # forgets ours (and any other test's records as old, which are all expired by then)
    assert idempotency.forget_expired(db, T0 + dt.timedelta(hours=24, seconds=1)) >= 2
    assert isinstance(idempotency.begin(db, caller, "kept", T0), Taken)


def test_the_answer_opens_only_with_the_api_key_that_sent_it(db: Database) -> None:
    caller = _caller(db)
    taken = idempotency.begin(db, caller, "k", T0)
    assert isinstance(taken, Taken)
    idempotency.keep(db, caller, "k", taken, "hash", ANSWER)
    found = idempotency.begin(db, caller, "k", T0)
    assert isinstance(found, Known)
    assert found.record.response is not None and b"s3cr3t" not in found.record.response
    thief = Caller(caller.who, "hr_not_the_key_that_sealed_it")
    with pytest.raises(InvalidTag):
        idempotency.replay(found, thief, "k", "hash")
