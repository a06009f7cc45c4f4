"""``headrace serve``: migrate, then serve the API with uvicorn."""

from __future__ import annotations

import logging

from headrace.cli.context import open_database
from headrace.settings import Settings


def run_server(host: str, port: int) -> None:
    import uvicorn

    from headrace.api.app import create_app

    settings = Settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    db = open_database(settings, migrate=True)
    app = create_app(settings, db)
    uvicorn.run(app, host=host, port=port, log_level="info")
