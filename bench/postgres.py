"""A private PostgreSQL database for one benchmark, dropped afterwards.

The server at ``HEADRACE_BENCH_POSTGRES_URL`` (default: the role the tests use on 127.0.0.1,
started by ``scripts/postgres-up``) is never restarted; only our own database comes and goes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

SERVER = os.environ.get(
    "HEADRACE_BENCH_POSTGRES_URL", "postgresql+psycopg://headrace:headrace@127.0.0.1:5432"
)


def _admin(statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


@contextmanager
def database() -> Iterator[str]:
    """The URL of a new, empty database."""
    name = f"headrace_bench_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
