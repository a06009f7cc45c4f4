"""``/docs`` (Swagger UI) and ``/redoc`` that work with no internet.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so offline they are blank. The
files come from the ``fastapi-offline`` package instead, served under ``/docs-assets``.
ReDoc's page also always shows a logo from the vendor's CDN; its Content-Security-Policy
keeps images to this server, so the browser never asks (the logo hides itself when it
cannot load).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse
from fastapi_offline import FastAPIOffline

ASSETS = "/docs-assets"


def offline_app(**kwargs: Any) -> FastAPI:
    """A FastAPI app whose /docs and /redoc use only files this server serves."""
    app = FastAPIOffline(
        redoc_url=None,
        static_url=ASSETS,
        # Swagger UI's validator badge would send the document to an outside service.
        swagger_ui_parameters={"validatorUrl": None},
        **kwargs,
    )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = "img-src 'self' data: blob:"
        return page

    return app
