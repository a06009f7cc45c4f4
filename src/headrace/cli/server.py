"""``headrace serve``: migrate, then serve the API with uvicorn."""

from __future__ import annotations

from headrace.cli.context import freeze_startup_objects, open_database
from headrace.logs import configure as configure_logging
from headrace.settings import Settings


def run_server(host: str, port: int) -> None:
    import uvicorn

    from headrace.api.app import create_app

    settings = Settings()
    configure_logging(settings)
    db = open_database(settings, migrate=True)
    app = create_app(settings, db)
    freeze_startup_objects()
    # log_config=None: uvicorn's own lines go through our handler (and its format) too.
    uvicorn.run(app, host=host, port=port, log_level="info", log_config=None)
