"""Webhooks and their deliveries: the signing secret appears only in the answer to the
webhook's creation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field

from headrace.domain.events import EventType
from headrace.domain.records import DeliveryRecord, WebhookRecord
from headrace.schemas.common import Strict


class WebhookCreate(Strict):
    url: Annotated[
        str,
        Field(
            max_length=2048,
            description="http(s) URL the events are POSTed to; it must resolve to public "
            "addresses only (unless the server allows private ones).",
        ),
    ]
    events: list[EventType] = Field(description="The events sent to it (at least one).")
    description: str = Field("", max_length=1000)


class WebhookRead(BaseModel):
    id: uuid.UUID
    url: str
    events: list[EventType]
    description: str
    created_at: dt.datetime

    @classmethod
    def of(cls, hook: WebhookRecord) -> WebhookRead:
        return cls(
            id=hook.id,
            url=hook.url,
            events=[EventType(e) for e in hook.events],
            description=hook.description,
            created_at=hook.created_at,
        )


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="The Standard Webhooks signing secret (whsec_…), shown only here."
    )


class DeliveryRead(BaseModel):
    """One message to the webhook: delivered (``delivered_at``), due again
    (``next_attempt_at``), or given up (neither) after 24 h of failed attempts."""

    id: uuid.UUID = Field(description="Also the message's webhook-id header.")
    event: EventType
    status_code: int | None = Field(description="The receiver's answer to the last attempt.")
    attempts: int
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    error: str | None = Field(description="Why the last attempt failed.")
    created_at: dt.datetime

    @classmethod
    def of(cls, d: DeliveryRecord) -> DeliveryRead:
        return cls(
            id=d.id,
            event=EventType(d.event),
            status_code=d.status_code,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at,
            error=d.error,
            created_at=d.created_at,
        )
