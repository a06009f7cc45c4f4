"""The API key is checked before a byte of a request's body is read.

FastAPI reads and parses a JSON body before it solves the route's dependencies, the key among
them, so a caller without a key could make the server read and parse a body as large as the
size cap allows only to be told 401. Here a request
that may carry a body is authenticated first; a bad key is answered at once, its body left
unread (uvicorn then drops what arrives of it unbuffered, keeping the connection usable: a
connection closed on a client still sending resets, and the client may never see the 401).
Every route that reads a body needs a key, so nothing is lost.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from headrace.api.deps import resolve_principal
from headrace.api.errors import error_response
from headrace.errors import HeadraceError

# The methods whose routes here read a body; the others' bodies are never read.
_READS_BODY = frozenset({"POST", "PUT", "PATCH"})


def _may_carry_body(scope: Scope) -> bool:
    if scope["method"] not in _READS_BODY:
        return False
    headers = dict(scope["headers"])
    declared = headers.get(b"content-length")
    return b"transfer-encoding" in headers or (declared is not None and declared.strip() != b"0")


class KeyFirst:
    """Answers 401/403 (the API's one error shape) to a request with a body and no good key,
    without reading the body; otherwise the caller found here is kept for the route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _may_carry_body(scope):
            try:
                await resolve_principal(HTTPConnection(scope))
            except HeadraceError as refused:
                response: JSONResponse = error_response(refused)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
