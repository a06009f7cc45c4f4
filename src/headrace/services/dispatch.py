"""Sending what the outbox's consumers queued: at least once, retried with backoff for 24 h.

A ``Dispatcher`` runs on a thread beside each worker (no server of its own). Each round it
lets every consumer read on in the outbox (``services/outbox.py``), then claims the due
deliveries (``repositories/deliveries.py``: a lease, so a process that dies mid-send leaves
them due again) and hands each to the sender of its sink. A failed attempt is due again
after a growing, jittered wait (``retry_at``), until 24 hours after it was queued; then it
is given up, with its last error kept. Deliveries are rows, so a restart loses none.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from headrace.domain.records import DeliveryRecord
from headrace.persistence.db import Database
from headrace.persistence.repositories import deliveries as repo
from headrace.services.clock import utcnow
from headrace.services.outbox import Consumer, drain
from headrace.settings import Settings

if TYPE_CHECKING:
    from headrace.runtime import Runtime

log = logging.getLogger("headrace.dispatch")

GIVE_UP_AFTER = dt.timedelta(hours=24)
FIRST_RETRY = dt.timedelta(seconds=5)
LONGEST_WAIT = dt.timedelta(hours=2)
GROWTH = 4
JITTER = 0.2
# Deliveries claimed per round, and how long a claim holds them: past this, a delivery whose
# sender has not recorded an outcome (its process died) is due again.
CLAIM_BATCH = 50
CLAIM_SECONDS = 300


@dataclass(frozen=True)
class Outcome:
    """How one attempt went: the receiver's HTTP status (None: no answer) and, unless it
    was delivered, why not."""

    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.error is None


class Sender(Protocol):
    def send(self, delivery: DeliveryRecord, now: dt.datetime) -> Outcome: ...


def retry_at(
    created_at: dt.datetime,
    attempts: int,
    now: dt.datetime,
    jitter: Callable[[], float] = random.random,
) -> dt.datetime | None:
    """When a delivery that has failed ``attempts`` times is due again: 5 s after the first
    failure, four times longer after each next one (at most 2 h), each wait spread by
    ±20 %; None once that would be more than 24 h after it was queued."""
    wait = min(FIRST_RETRY * GROWTH ** (attempts - 1), LONGEST_WAIT)
    wait *= 1 + JITTER * (2 * jitter() - 1)
    due = now + wait
    return None if due > created_at + GIVE_UP_AFTER else due


class Dispatcher:
    """Drains the consumers and sends the due deliveries, one round per ``tick``."""

    def __init__(
        self,
        db: Database,
        consumers: Sequence[Consumer],
        senders: Mapping[str, Sender],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.db = db
        self.consumers = list(consumers)
        self.senders = dict(senders)
        self.clock = clock

    def tick(self) -> int:
        """One round; how many deliveries it attempted."""
        now = self.clock()
        for consumer in self.consumers:
            drain(self.db, consumer, now)
        return self.send_due()

    def send_due(self) -> int:
        now = self.clock()
        lease = now + dt.timedelta(seconds=CLAIM_SECONDS)
        with self.db.unit_of_work() as conn:
            due = repo.claim_due(conn, now, lease, CLAIM_BATCH, skip_locked=not self.db.is_sqlite)
        for delivery in due:
            self._attempt(delivery)
        return len(due)

    def _attempt(self, delivery: DeliveryRecord) -> None:
        sender = self.senders.get(delivery.sink)
        now = self.clock()
        if sender is None:
            outcome = Outcome(None, f"this worker does not send to {delivery.sink}")
        else:
            try:
                outcome = sender.send(delivery, now)
            except Exception as err:
                log.exception("delivery %s failed in its sender", delivery.id)
                outcome = Outcome(None, f"the delivery failed: {err}")
        attempts = delivery.attempts + 1
        ended = self.clock()
        with self.db.unit_of_work() as conn:
            repo.record_attempt(
                conn,
                delivery.id,
                attempts=attempts,
                status_code=outcome.status_code,
                error=outcome.error,
                delivered_at=ended if outcome.delivered else None,
                next_attempt_at=None
                if outcome.delivered
                else retry_at(delivery.created_at, attempts, ended),
            )

    def serve(self, stopping: threading.Event, poll_seconds: float) -> None:
        """Rounds until ``stopping`` is set; a failed round is logged, and the next one
        tries again."""
        while not stopping.is_set():
            busy = 0
            try:
                busy = self.tick()
            except Exception:
                log.exception("delivering events failed; trying again in %s s", poll_seconds)
            if busy < CLAIM_BATCH:
                stopping.wait(poll_seconds)


def forget_finished(db: Database, now: dt.datetime, retention_days: float) -> int:
    """Remove the deliveries delivered or given up more than ``retention_days`` ago (their
    last attempt is no later than 24 h after they were queued); how many."""
    before = now - dt.timedelta(days=retention_days) - GIVE_UP_AFTER
    with db.unit_of_work() as conn:
        return repo.remove_finished(conn, before)


def consumers(db: Database, settings: Settings) -> list[Consumer]:
    """The outbox's consumers that the settings turn on."""
    from headrace.services.webhooks import WebhookConsumer

    found: list[Consumer] = [WebhookConsumer()]
    if settings.openlineage_url:
        from headrace.services.lineage import LineageConsumer

        found.append(LineageConsumer(db))
    return found


def start_dispatcher(runtime: Runtime) -> Callable[[], None]:
    """The dispatcher of ``runtime``'s worker process on a daemon thread of its own (a slow
    receiver must not hold up runs); call what is returned to stop it."""
    from headrace.services.senders import open_senders

    senders, close = open_senders(runtime.db, runtime.settings)
    dispatcher = Dispatcher(runtime.db, consumers(runtime.db, runtime.settings), senders)
    stopping = threading.Event()
    thread = threading.Thread(
        target=dispatcher.serve,
        args=(stopping, runtime.settings.delivery_poll_seconds),
        name="headrace-dispatch",
        daemon=True,
    )
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(timeout=runtime.settings.webhook_timeout_seconds + 5)
        close()

    return stop
