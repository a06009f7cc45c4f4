"""The senders of the dispatcher (``services/dispatch.py``), one per sink: webhooks, and the
OpenLineage backend (``HEADRACE_OPENLINEAGE_URL``, an operator's, sent to as configured).

``WebhookSender`` signs each attempt as Standard Webhooks specifies (the ``standardwebhooks``
package: ``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``) and sends it to the
address its URL resolves to now, checked again (``services/public_urls.py``): no redirect
is followed, no proxy from the environment used, and the answer's body is not read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
from standardwebhooks.webhooks import Webhook

from headrace import __version__
from headrace.domain.records import DeliveryRecord
from headrace.errors import HeadraceError
from headrace.persistence.db import Database
from headrace.persistence.repositories import webhooks as webhooks_repo
from headrace.services import public_urls
from headrace.services.dispatch import Outcome, Sender
from headrace.services.secret_box import SecretBox
from headrace.services.webhooks import SINK as WEBHOOK_SINK
from headrace.services.webhooks import secret_box
from headrace.settings import Settings

USER_AGENT = f"headrace/{__version__}"


def _failure(err: httpx.HTTPError) -> str:
    if isinstance(err, httpx.TimeoutException):
        return "the receiver did not answer in time"
    if isinstance(err, httpx.ConnectError):
        return "the receiver could not be reached"
    return f"the request failed ({type(err).__name__})"


def answered(status: int) -> Outcome:
    """A 2xx is a delivery; anything else is tried again."""
    if 200 <= status < 300:
        return Outcome(status, None)
    return Outcome(status, f"the receiver answered {status}")


class WebhookSender:
    def __init__(self, db: Database, settings: Settings, http: httpx.Client) -> None:
        self.db = db
        self.settings = settings
        self.http = http
        self._box: SecretBox | None = None

    def _open(self, sealed: str) -> str:
        if self._box is None:  # without a server key: 503 as the detail, at each attempt
            self._box = secret_box(self.settings)
        return self._box.open(sealed)

    def send(self, delivery: DeliveryRecord, now: dt.datetime) -> Outcome:
        assert delivery.webhook_id is not None
        with self.db.unit_of_work(write=False) as conn:
            hook = webhooks_repo.by_ids(conn, [delivery.webhook_id]).get(delivery.webhook_id)
        if hook is None:  # deleted since (its deliveries go with it)
            return Outcome(None, "the webhook was deleted")
        try:
            secret = self._open(hook.secret)
            target = public_urls.pin(hook.url, self.settings.webhook_allow_private)
        except HeadraceError as err:
            return Outcome(None, err.detail)
        except public_urls.Refused as err:
            return Outcome(None, f"the URL {err}")
        msg_id = str(delivery.id)
        headers = {
            "host": target.host,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, now, delivery.payload),
        }
        extensions = {"sni_hostname": target.server_name} if target.server_name else None
        try:
            request = self.http.build_request(
                "POST",
                target.url,
                content=delivery.payload,
                headers=headers,
                extensions=extensions,
            )
            response = self.http.send(request, stream=True)
            response.close()
        except httpx.HTTPError as err:
            return Outcome(None, _failure(err))
        return answered(response.status_code)


class LineageSender:
    def __init__(self, settings: Settings, http: httpx.Client) -> None:
        assert settings.openlineage_url is not None
        base = settings.openlineage_url.rstrip("/")
        self.url = f"{base}/{settings.openlineage_endpoint.lstrip('/')}"
        self.headers = {"content-type": "application/json", "user-agent": USER_AGENT}
        if settings.openlineage_api_key is not None:
            key = settings.openlineage_api_key.get_secret_value()
            self.headers["authorization"] = f"Bearer {key}"
        self.http = http

    def send(self, delivery: DeliveryRecord, now: dt.datetime) -> Outcome:
        try:
            response = self.http.post(self.url, content=delivery.payload, headers=self.headers)
        except httpx.HTTPError as err:
            return Outcome(None, _failure(err))
        return answered(response.status_code)


def open_senders(db: Database, settings: Settings) -> tuple[dict[str, Sender], Callable[[], None]]:
    """The senders of every sink this process sends to, and what closes them."""
    http = httpx.Client(
        timeout=settings.webhook_timeout_seconds, follow_redirects=False, trust_env=False
    )
    senders: dict[str, Sender] = {WEBHOOK_SINK: WebhookSender(db, settings, http)}
    if settings.openlineage_url:
        from headrace.services.lineage import SINK as LINEAGE_SINK

        senders[LINEAGE_SINK] = LineageSender(settings, http)
    return senders, http.close
