"""/webhooks/: create, list, read, delete (admin), and each webhook's deliveries."""

from __future__ import annotations

import uuid

from fastapi import Response

from headrace.api.deps import Admin, Config, Db, Paging
from headrace.api.openapi import errors
from headrace.api.routing import SlashRouter
from headrace.schemas.webhooks import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead
from headrace.services import webhooks

router = SlashRouter(tags=["webhooks"])


@router.post("/webhooks/", status_code=201, response_model=WebhookCreated, responses=errors(503))
def create_webhook(
    body: WebhookCreate, who: Admin, db: Db, settings: Config, response: Response
) -> WebhookCreated:
    """A new webhook; its signing secret is shown only here (``Cache-Control: no-store``).
    422 for a URL that resolves to a loopback, private or link-local address."""
    new = webhooks.create(db, settings, who, body.url, body.events, body.description)
    response.headers["Cache-Control"] = "no-store"
    return WebhookCreated(**WebhookRead.of(new.record).model_dump(), secret=new.secret)


@router.get("/webhooks/", response_model=list[WebhookRead])
def list_webhooks(who: Admin, db: Db, paging: Paging) -> list[WebhookRead]:
    found = webhooks.list_webhooks(db, who, paging.after, paging.limit)
    paging.link_next(found, lambda h: (h.created_at, h.id))
    return [WebhookRead.of(h) for h in found]


@router.get("/webhooks/{webhook_id}/", response_model=WebhookRead)
def get_webhook(webhook_id: uuid.UUID, who: Admin, db: Db) -> WebhookRead:
    return WebhookRead.of(webhooks.get(db, who, webhook_id))


@router.delete("/webhooks/{webhook_id}/", status_code=204, response_class=Response)
def delete_webhook(webhook_id: uuid.UUID, who: Admin, db: Db) -> Response:
    """Delete the webhook with its deliveries: nothing more is sent to it."""
    webhooks.delete(db, who, webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries/", response_model=list[DeliveryRead])
def list_deliveries(
    webhook_id: uuid.UUID, who: Admin, db: Db, paging: Paging
) -> list[DeliveryRead]:
    """The webhook's deliveries, newest first."""
    found = webhooks.deliveries_of(db, who, webhook_id, paging.after, paging.limit)
    paging.link_next(found, lambda d: (d.created_at, d.id))
    return [DeliveryRead.of(d) for d in found]
