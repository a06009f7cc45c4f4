"""A cap on the bodies the API reads whole into memory.

FastAPI reads a JSON body completely before the route runs, and parsing it costs several times
its size, so a large upsert could take the server's memory. File uploads are not capped here:
they stream to disk under their own limit (``uploads.py``). The cap is checked against the
declared Content-Length before anything is read, and against the bytes received while they
arrive (a chunked body declares none).
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """Refuses with 413 a body over ``max_bytes`` sent to one of ``paths`` (with or without
    the trailing slash). The route raises the 413 while reading, so it gets the API's one JSON
    error shape."""

    def __init__(self, app: ASGIApp, *, paths: Collection[str], max_bytes: int) -> None:
        self.app = app
        self.paths = {p.rstrip("/") for p in paths}
        self.max_bytes = max_bytes

    def _too_large(self) -> HTTPException:
        return HTTPException(
            413, f"the request body is larger than the {self.max_bytes} bytes accepted here"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        too_large = declared.isdigit() and int(declared) > self.max_bytes
        received = 0

        async def limited() -> Message:
            nonlocal received
            if too_large:
                raise self._too_large()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, limited, send)
