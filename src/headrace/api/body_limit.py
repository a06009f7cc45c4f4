"""A cap on every request body the API reads.

FastAPI reads a JSON body completely before the route runs, and parsing it costs several times
its size, so one large body could take the server's memory. Every path has the default cap; a
path may have its own (the upsert's rows), or none here when its route streams the body under
a limit of its own (file uploads, ``uploads.py``). The cap is checked against the declared
Content-Length before anything is read, and against the bytes received while they arrive (a
chunked body declares none).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """Refuses with 413 a body over ``max_bytes``, or over the cap ``paths`` gives its path
    (with or without the trailing slash; None: not capped here). The route raises the 413
    while reading, so it gets the API's one JSON error shape."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, paths: Mapping[str, int | None] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = {p.rstrip("/"): cap for p, cap in (paths or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.paths.get(scope["path"].rstrip("/"), self.max_bytes)
        if cap is None:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        too_large = declared.isdigit() and int(declared) > cap
        received = 0

        def refusal() -> HTTPException:
            return HTTPException(
                413, f"the request body is larger than the {cap} bytes accepted here"
            )

        async def limited() -> Message:
            nonlocal received
            if too_large:
                raise refusal()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise refusal()
            return message

        await self.app(scope, limited, send)
