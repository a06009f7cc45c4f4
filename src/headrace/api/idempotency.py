"""``Idempotency-Key`` on every POST (``services/idempotency.py`` says what it promises).

A middleware, so that every POST route has it without a line of its own, the ones added later
too. It sits inside ``KeyFirst`` (the caller is known before a byte of the body is read) and
outside the routes: the first request with a key is handed to its route while its body is
hashed on the way in, and the route's answer is kept on the way out; a repeat has its body
hashed here and, when it is the same request, gets the kept answer without reaching a route.

The request's fingerprint is its method, path (without the trailing slash), query and body,
byte for byte, except for a multipart form's boundary, which clients draw anew for each
request.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from headrace.api.deps import key_secret, resolve_principal
from headrace.api.errors import error_response, problem
from headrace.errors import HeadraceError
from headrace.persistence.db import Database
from headrace.services import idempotency
from headrace.services.idempotency import Answer, Caller, Taken


class Fingerprint:
    """SHA-256 of a request: method, path, query, then the body as it arrives in chunks (a
    multipart boundary removed, also where it straddles two chunks)."""

    def __init__(self, scope: Scope, headers: Headers) -> None:
        path = scope["path"].rstrip("/")
        query = scope.get("query_string", b"").decode("latin-1")
        self._hash = hashlib.sha256(f"{scope['method']} {path}?{query}\n".encode())
        boundary = _boundary(headers.get("content-type", ""))
        self._boundary = boundary.encode("latin-1") if boundary else b""
        self._tail = b""

    def update(self, chunk: bytes) -> None:
        if not self._boundary:
            self._hash.update(chunk)
            return
        data = (self._tail + chunk).replace(self._boundary, b"")
        keep = len(self._boundary) - 1
        self._hash.update(data[: len(data) - keep] if len(data) > keep else b"")
        self._tail = data[len(data) - keep :] if len(data) > keep else data

    def hexdigest(self) -> str:
        self._hash.update(self._tail)
        self._tail = b""
        return self._hash.hexdigest()


def _boundary(content_type: str) -> str | None:
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value:
            return value.strip('"')
    return None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Idempotency:
    """Replays the first answer to a POST repeated with its ``Idempotency-Key``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        key = headers.get(idempotency.HEADER) if headers is not None else None
        if headers is None or key is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        try:
            who = await resolve_principal(connection)
        except HeadraceError:  # the route refuses it in the API's usual way
            await self.app(scope, receive, send)
            return
        caller = Caller(who, key_secret(headers) or "")
        db: Database = connection.app.state.db
        fingerprint = Fingerprint(scope, headers)
        try:
            idempotency.check_key(key)
            found = await run_in_threadpool(idempotency.begin, db, caller, key, _now())
            if isinstance(found, Taken):
                await self._first(scope, receive, send, db, caller, key, found, fingerprint)
                return
            await _read_body(receive, fingerprint)
            answer = idempotency.replay(found, caller, key, fingerprint.hexdigest())
        except HeadraceError as refused:
            await error_response(refused)(scope, receive, send)
            return
        except StarletteHTTPException as too_large:  # from BodyLimit, while reading
            await problem(too_large.status_code, str(too_large.detail), "payload_too_large")(
                scope, receive, send
            )
            return
        await _send_answer(send, answer)

    async def _first(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        db: Database,
        caller: Caller,
        key: str,
        taken: Taken,
        fingerprint: Fingerprint,
    ) -> None:
        """Hand the request to its route, hashing its body, and keep its answer before it is
        sent: a client that has it may send the request again at once, and must get it."""
        ended = False
        held: list[Message] = []

        async def hashing() -> Message:
            nonlocal ended
            message = await receive()
            if message["type"] == "http.request":
                fingerprint.update(message.get("body", b""))
                ended = not message.get("more_body", False)
            return message

        async def holding(message: Message) -> None:
            held.append(message)

        try:
            await self.app(scope, hashing, holding)
            start = next(m for m in held if m["type"] == "http.response.start")
            if 200 <= start["status"] < 300:
                if not ended:  # a route that reads no body: the rest counts all the same
                    await _read_body(hashing, fingerprint)
                body = b"".join(m.get("body", b"") for m in held if m["type"].endswith("body"))
                answer = Answer(start["status"], list(start.get("headers", [])), body)
                digest = fingerprint.hexdigest()
                await run_in_threadpool(idempotency.keep, db, caller, key, taken, digest, answer)
            else:
                await run_in_threadpool(idempotency.release, db, caller, key, taken)
        except BaseException:
            await run_in_threadpool(idempotency.release, db, caller, key, taken)
            raise
        for message in held:
            await send(message)


async def _read_body(receive: Receive, fingerprint: Fingerprint) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        fingerprint.update(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _send_answer(send: Send, answer: Answer) -> None:
    headers = [*answer.headers, (b"idempotent-replayed", b"true")]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
