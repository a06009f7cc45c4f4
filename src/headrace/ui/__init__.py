"""The web UI's files: plain JavaScript modules, CSS and vendored libraries under ``static/``,
served by :mod:`headrace.api.routes.ui`. Nothing here is built at install time."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
