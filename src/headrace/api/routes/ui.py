"""The web UI at ``/ui/``: static files from the package, and ``/`` redirecting there.

The UI is a set of plain JavaScript modules that call the public API with the key the user
signs in with, so these files need no key: they are the same for everyone and hold no data.
Paths under ``/ui/`` that name no file get ``index.html`` (the UI routes in the URL's hash,
so this only catches typed URLs). A strict Content-Security-Policy keeps the key in session
storage out of reach of injected scripts: only our own files may run or be fetched.
"""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from headrace.errors import NotFound
from headrace.ui import STATIC

router = APIRouter(include_in_schema=False)

_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}
_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _file(relative: str) -> FileResponse:
    root = STATIC.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise NotFound("there is no such file")
    if not path.is_file():
        if "." in path.name:  # a missing asset is a 404, not the page
            raise NotFound("there is no such file")
        path = root / "index.html"
    media = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
    return FileResponse(path, media_type=media, headers=_HEADERS)


@router.get("/")
def root() -> RedirectResponse:
    """People who open the server's address get the UI."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui")
def ui_bare() -> RedirectResponse:
    # Relative asset paths in index.html need the trailing slash.
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/{relative:path}")
def ui_file(relative: str) -> FileResponse:
    """``index.html`` for ``/ui/``; any file below ``static/`` by its path."""
    return _file(relative or "index.html")
