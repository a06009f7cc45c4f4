"""Webhooks: an organisation's URLs told of its runs' starts and ends and its datasets' new
versions, signed as Standard Webhooks specifies.

The signing secret is shown once, at creation, and stored encrypted with the server's key
(``services/secret_box.py``). ``WebhookConsumer`` reads the event outbox
(``services/outbox.py``) and queues one delivery per event and subscribed webhook, with the
message's body fixed then; ``services/dispatch.py`` sends them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from headrace.domain.access import Principal
from headrace.domain.events import EventType, of_run_change
from headrace.domain.problems import Problem
from headrace.domain.records import DeliveryRecord, RunRecord, WebhookRecord
from headrace.errors import InvalidInput, NotFound, Unavailable
from headrace.persistence.db import Database
from headrace.persistence.paging import Keyset
from headrace.persistence.repositories import datasets as datasets_repo
from headrace.persistence.repositories import deliveries as deliveries_repo
from headrace.persistence.repositories import runs as runs_repo
from headrace.persistence.repositories import webhooks as repo
from headrace.persistence.repositories.events import DatasetVersionEvent, OutboxEvent, RunEvent
from headrace.services import public_urls
from headrace.services.clock import utcnow
from headrace.services.secret_box import SecretBox
from headrace.settings import Settings

SINK = "webhook"
SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class NewWebhook:
    record: WebhookRecord
    secret: str


def secret_box(settings: Settings) -> SecretBox:
    """The box of the server's key (503 when the server has none)."""
    if settings.secret_key is None:
        raise Unavailable(
            "webhooks need the server setting HEADRACE_SECRET_KEY, which encrypts their "
            "signing secrets; ask the server's operator to set it"
        )
    return SecretBox(settings.secret_key.get_secret_value())


def create(
    db: Database,
    settings: Settings,
    who: Principal,
    url: str,
    events: Sequence[EventType],
    description: str,
) -> NewWebhook:
    """A new webhook; its URL must reach only public addresses (422 with every problem)."""
    box = secret_box(settings)
    problems = public_urls.problems(url, settings.webhook_allow_private, ("body", "url"))
    if not events:
        problems.append(
            Problem(("body", "events"), "name at least one event", "webhooks.no_events")
        )
    if problems:
        raise InvalidInput(problems[0].msg, problems)
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    record = WebhookRecord(
        id=uuid.uuid4(),
        org_id=who.org_id,
        url=url,
        events=list(dict.fromkeys(e.value for e in events)),
        description=description,
        secret=box.seal(secret),
        created_at=utcnow(),
    )
    with db.unit_of_work() as conn:
        repo.add(conn, record)
    return NewWebhook(record, secret)


def list_webhooks(
    db: Database, who: Principal, after: Keyset | None, limit: int
) -> list[WebhookRecord]:
    with db.unit_of_work(write=False) as conn:
        return repo.list_for_org(conn, who.org_id, after=after, limit=limit)


def get(db: Database, who: Principal, webhook_id: uuid.UUID) -> WebhookRecord:
    with db.unit_of_work(write=False) as conn:
        found = repo.get(conn, who.org_id, webhook_id)
    if found is None:
        raise NotFound(f"there is no webhook {webhook_id}")
    return found


def delete(db: Database, who: Principal, webhook_id: uuid.UUID) -> None:
    """Remove the webhook and its deliveries: nothing more is sent to it."""
    with db.unit_of_work() as conn:
        if not repo.remove(conn, who.org_id, webhook_id):
            raise NotFound(f"there is no webhook {webhook_id}")


def deliveries_of(
    db: Database, who: Principal, webhook_id: uuid.UUID, after: Keyset | None, limit: int
) -> list[DeliveryRecord]:
    """The webhook's deliveries, newest first."""
    get(db, who, webhook_id)
    with db.unit_of_work(write=False) as conn:
        return deliveries_repo.of_webhook(conn, webhook_id, after=after, limit=limit)


def message(event: EventType, at: dt.datetime, data: dict[str, Any]) -> str:
    """The body of a delivery: Standard Webhooks' ``{type, timestamp, data}``."""
    body = {"type": event.value, "timestamp": at.isoformat(), "data": data}
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def run_data(event: RunEvent, run: RunRecord | None) -> dict[str, Any]:
    """What a run event tells: the run as the change left it."""
    ended = event.new in ("Succeeded", "Failed", "Error", "Cancelled")
    return {
        "run_id": str(event.run_id),
        "pipeline_id": str(event.pipeline_id),
        "pipeline_config_version_id": str(run.version_id) if run else None,
        "name": run.name if run else None,
        "status": event.new,
        "previous_status": event.old,
        "created_at": run.created_at.isoformat() if run else None,
        "finished_at": event.at.isoformat() if ended else None,
    }


class WebhookConsumer:
    """Queues a delivery of each event to every webhook of its organisation that subscribed
    to it and existed when it happened (so it may start at the beginning of the outbox:
    nothing older than the first webhook is sent)."""

    name = "webhooks"
    from_newest = False

    def handle(self, conn: Connection, events: list[OutboxEvent], now: dt.datetime) -> None:
        typed = [(e, t) for e in events if (t := _event_type(e))]
        if not typed:
            return
        hooks: dict[uuid.UUID, list[WebhookRecord]] = defaultdict(list)
        for hook in repo.of_orgs(conn, {e.org_id for e, _ in typed}):
            hooks[hook.org_id].append(hook)
        wanted = [(e, t) for e, t in typed if e.org_id in hooks]
        if not wanted:
            return
        run_ids = {e.run_id for e, _ in wanted if isinstance(e, RunEvent)}
        runs = {r.id: r for r in runs_repo.get_many(conn, list(run_ids))}
        names = datasets_repo.names(
            conn, {e.dataset_id for e, _ in wanted if isinstance(e, DatasetVersionEvent)}
        )
        queued = []
        for event, kind in wanted:
            data = (
                dataset_data(event, names.get(event.dataset_id))
                if isinstance(event, DatasetVersionEvent)
                else run_data(event, runs.get(event.run_id))
            )
            body = message(kind, event.at, data)
            for hook in hooks[event.org_id]:
                if kind.value in hook.events and hook.created_at <= event.at:
                    queued.append(DeliveryRecord.queued(SINK, kind.value, body, now, hook.id))
        deliveries_repo.add(conn, queued)


def _event_type(event: OutboxEvent) -> EventType | None:
    if isinstance(event, DatasetVersionEvent):
        return EventType.DATASET_VERSION
    return of_run_change(event.step, event.old, event.new)


def dataset_data(event: DatasetVersionEvent, name: str | None) -> dict[str, Any]:
    """What a dataset version event tells: which version of which dataset, and which run's
    step wrote it (null for an upload or an upsert)."""
    return {
        "dataset_id": str(event.dataset_id),
        "name": name,
        "version": event.version,
        "run_id": None if event.run_id is None else str(event.run_id),
        "step_name": event.step,
        "created_at": event.at.isoformat(),
    }
