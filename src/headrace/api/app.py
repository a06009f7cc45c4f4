"""The FastAPI application, built from one Settings object."""

from __future__ import annotations

from fastapi import FastAPI

from headrace import __version__
from headrace.api import errors
from headrace.api.routes import keys, pipelines, runs
from headrace.persistence.db import Database
from headrace.settings import Settings


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    """The API over ``db`` (built from ``settings`` when not given). Migrations are the
    caller's business: ``headrace serve`` applies them before it starts serving."""
    app = FastAPI(
        title="headrace",
        version=__version__,
        description="Data pipelines as versioned SQL steps over versioned Delta datasets.",
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.db = db or Database(settings.effective_database_url)
    errors.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness; no key needed."""
        return {"status": "ok"}

    for module in (keys, pipelines, runs):
        app.include_router(module.router)
    return app
