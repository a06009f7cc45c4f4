"""Every 201 names what it created in a ``Location`` header.

A POST to a collection (``/pipelines/``, ``/pipelines/{id}/runs/``, ``/api-keys/``, ...)
creates an object whose address is the collection's path and the object's ``id``: that rule
is applied here to every 201 without a ``Location``, so a new collection route has its header
without saying so. A route whose object lives elsewhere (a run's retry makes a run of the
runs collection, not under ``/retry/``) sets ``Location`` itself, and that one is kept.
"""

from __future__ import annotations

import json

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def location(scope: Scope, collection: str, ident: object) -> str:
    """The address of object ``ident`` of ``collection`` (a path of this API), as a path of the
    server the client called (behind a proxy's prefix too)."""
    return f"{scope.get('root_path', '')}{collection.rstrip('/')}/{ident}/"


def _created_id(body: bytes) -> str | None:
    try:
        found = json.loads(body)
    except ValueError:
        return None
    ident = found.get("id") if isinstance(found, dict) else None
    return ident if isinstance(ident, str) and ident else None


def _has_location(start: Message) -> bool:
    return any(name.lower() == b"location" for name, _ in start.get("headers", []))


class Created:
    """Adds ``Location: <collection>/<id>/`` to a POST's 201 that has none, from the ``id`` of
    the JSON object it answers with."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        body = bytearray()

        async def watch(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                if message["status"] == 201 and not _has_location(message):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                ident = _created_id(bytes(body))
                if ident is not None:
                    headers = MutableHeaders(scope=held)
                    headers["Location"] = location(scope, scope["path"], ident)
                await send(held)
                held = None
                await send({"type": "http.response.body", "body": bytes(body)})
                return
            await send(message)

        await self.app(scope, receive, watch)
