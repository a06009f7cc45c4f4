"""Engine and unit of work for the metadata store.

SQLite runs in WAL mode with ``BEGIN IMMEDIATE`` for writing transactions, so two writers
queue on the busy timeout instead of failing when a read lock would have to be upgraded.
Writers of one process queue on a lock of ours first: SQLite's busy handler sleeps 1, 2, 5,
10 ms... between tries, so a transaction that waited for a 3 ms one slept 8 ms, and the
worker's step threads and the API's requests wait for each other all the time.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from headrace.caching import Cache
from headrace.domain.fingerprint import Recipe
from headrace.persistence.repositories.pipelines import VersionCache, version_cache

# Where a unit of work keeps the rows it writes last (``at_commit``).
_AT_COMMIT = "at_commit"

Writer = Callable[[Connection, list[Any]], None]

# The recipe (``domain/fingerprint.py``) of each step of a version, by (version id, step name).
RecipeCache = Cache[tuple[uuid.UUID, str], Recipe]


class Database:
    """One engine per process; ``unit_of_work()`` is the only place transactions commit.

    ``versions`` keeps the pipeline versions read through it (they never change once
    written), ``recipes`` their steps' recipes: the store's, so two stores never share
    them."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.versions: VersionCache = version_cache()
        self.recipes: RecipeCache = Cache(20_000)
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        # Reentrant: a write nested in another (there is none) fails on SQLite's own lock
        # after the busy timeout instead of waiting here for ever.
        self._sqlite_writer = threading.RLock()
        # The pool keeps ``pool_size`` connections; one checked out beyond them is opened and
        # closed again (a new PostgreSQL backend, or a SQLite connection running its PRAGMAs,
        # each time). The API serves up to 40 requests at once (anyio's threads); with
        # SQLAlchemy's default pools (10 for PostgreSQL, 5 for SQLite) a busy server would
        # open and close a connection for most requests.
        pool: dict[str, Any] = {"pool_size": pool_size, "max_overflow": max(0, 40 - pool_size)}
        if self.is_sqlite:
            in_memory = not parsed.database or parsed.database == ":memory:"
            if not in_memory:
                _private_file(Path(str(parsed.database)))
            self.engine: Engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                **({} if in_memory else pool),  # one connection per thread for :memory:
            )
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, **pool)

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Connection]:
        """A transaction that commits when the block ends normally and rolls back otherwise."""
        queue = self._sqlite_writer if self.is_sqlite and write else nullcontext()
        with queue, self.engine.connect() as conn:
            conn.info["write"] = write
            try:
                with conn.begin():
                    yield conn
                    for writer, rows in conn.info.pop(_AT_COMMIT, {}).values():
                        writer(conn, rows)
            finally:
                conn.info.pop(_AT_COMMIT, None)  # a rolled-back unit's rows go with it

    def reachable(self) -> bool:
        """Whether the store answers a trivial query now: what the readiness probe asks."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()


def at_commit(conn: Connection, writer: Writer) -> list[Any]:
    """A list whose rows ``writer`` writes as the last statement of ``conn``'s unit of work,
    just before it commits: the event outbox's rows, after every row lock of the
    transaction, so that on SQLite they are numbered by the last statement of the one
    writer (``repositories/events.py``)."""
    pending: dict[Writer, tuple[Writer, list[Any]]] = conn.info.setdefault(_AT_COMMIT, {})
    return pending.setdefault(writer, (writer, []))[1]


def _private_file(path: Path) -> None:
    """Create the SQLite file (and its folder) readable by this user only: it holds every
    organisation's key hashes and SQL. SQLite gives its -wal and -shm files the same mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling is off).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write", True) else "BEGIN")
