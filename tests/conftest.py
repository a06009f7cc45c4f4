"""Real engines for every test: SQLite and PostgreSQL metadata stores, the app over HTTP.

Each test that takes ``client`` runs once per metadata store. Tests share one migrated
database per store and session; every test makes its own organisation, so they cannot see
each other's objects (tenant isolation is what keeps them apart).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from headrace.api.app import create_app
from headrace.persistence.db import Database
from headrace.persistence.migrate import upgrade
from headrace.runtime import Runtime
from headrace.settings import Settings
from tests.factories import TEST_SECRET_KEY, Api, make_org

POSTGRES_ADMIN_URL = os.environ.get(
    "HEADRACE_TEST_POSTGRES_URL", "postgresql+psycopg://headrace:headrace@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgres")


def _postgres_database(name: str) -> Iterator[str]:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # pragma: no cover - a setup problem, reported plainly
        pytest.exit(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({err}); "
            "start it (.ci/run shows how) or set HEADRACE_TEST_POSTGRES_URL",
            returncode=3,
        )
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated metadata store of each kind, for the whole session."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'headrace.db'}"
        db = Database(url)
        upgrade(db.engine)
        db.dispose()
        yield url
    else:
        name = f"headrace_test_{worker}_{os.getpid()}"
        for url in _postgres_database(name):
            db = Database(url)
            upgrade(db.engine)
            db.dispose()
            yield url


@pytest.fixture
def own_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A store of the same kind as ``database_url`` that no other test uses: for tests whose
    workers claim any Pending run they find."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'own.db'}"
        db = Database(url)
        upgrade(db.engine)
        db.dispose()
        yield url
        return
    for url in _postgres_database(f"headrace_own_{uuid.uuid4().hex[:12]}"):
        db = Database(url)
        upgrade(db.engine)
        db.dispose()
        yield url


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One warehouse per store and session, shared like the database: organisations keep
    tests apart. A test that needs other settings derives them with ``model_copy``."""
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        run_worker=False,
        secret_key=SecretStr(TEST_SECRET_KEY),
    )


@pytest.fixture(scope="session")
def runtime(settings: Settings, db: Database) -> Iterator[Runtime]:
    """One runtime per store and session, as a server has one: its step processes serve
    every test's steps (booting them is a second of CPU each)."""
    with Runtime(settings, db) as rt:
        yield rt


@pytest.fixture(scope="session")
def client(settings: Settings, runtime: Runtime) -> Iterator[TestClient]:
    """One app per store and session: FastAPI builds each route's dependency state on first
    use, which cost every test that made its own app a few hundred milliseconds."""
    with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def api(client: TestClient, db: Database) -> Api:
    """A client holding the admin key of a fresh organisation."""
    return make_org(client, db)


def new_name(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# The tiers of the suite. ``make check`` deselects these marks; ``make test`` runs everything.
# A directory or file listed here gets its mark without decorating each test in it.
TESTS = Path(__file__).parent
MARKED_PATHS = {
    "ui": "browser",  # drives Chromium through Playwright
    "reliability": "faults",  # restarts PostgreSQL, kills servers mid-write
    "services/test_worker.py": "faults",  # SIGKILLs a worker mid-run
    "services/test_scheduler_faults.py": "faults",  # worker processes, one SIGKILLed mid-tick
    "api/test_fuzz.py": "fuzz",  # schemathesis over every operation
    # each test starts `headrace serve`, workers or the CLI as separate processes
    "api/test_hostile_bombs.py": "slow",
    "api/test_hostile_revocation.py": "slow",
    "cli/test_demo.py": "slow",
    "cli/test_serve_processes.py": "slow",
    "cli/test_subprocess.py": "slow",
    "cli/test_workers.py": "slow",
}
# single tests among quicker ones in their files: (file, test) -> mark
MARKED_TESTS = {
    # hundreds of generated CSV files; the bounded hypothesis tests of the lifecycle stay
    ("storage/test_ingest_csv.py", "test_accepted_files_hold_exactly_the_rows_csv_reader_reads"): (
        "fuzz"
    ),
    # these start processes
    (
        "api/test_bad_uploads.py",
        "test_bad_uploads_against_a_live_server_keep_memory_bounded",
    ): "slow",
    (
        "api/test_hostile_server.py",
        "test_the_data_directory_is_private_and_the_log_keeps_no_secrets",
    ): "slow",
    (
        "api/test_hostile_bodies.py",
        "test_a_large_body_without_a_key_costs_the_server_nothing",
    ): "slow",
    (
        "cli/test_local_run.py",
        "test_a_repeat_run_loads_neither_duckdb_nor_the_sql_parser_and_still_reports_sql_errors",
    ): "slow",
    ("execution/test_hostile_runs.py", "test_a_live_server_serves_through_hostile_runs"): "slow",
    (
        "execution/test_step_process.py",
        "test_a_process_killed_for_its_memory_is_never_reused",
    ): "slow",
    ("s3/test_runs.py", "test_pods_on_an_s3_warehouse_match_the_local_executor"): "slow",
    # builds a fresh virtualenv from uv.lock; resolves the dependencies again
    ("test_packaging.py", "test_the_client_imports_without_the_servers_libraries"): "slow",
    ("test_packaging.py", "test_the_remote_cli_runs_and_server_commands_name_the_extra"): "slow",
    ("test_packaging.py", "test_the_lock_matches_pyproject"): "slow",
    # waits out binding's own time limit
    (
        "services/test_binding.py",
        "test_a_constant_too_large_to_bind_is_saved_unchecked_with_a_warning",
    ): "slow",
    # binds a dozen hostile constants one save at a time, each stopped at binding's limits
    ("execution/test_sandbox.py", "test_each_query_that_passes_validation_is_saved_alone"): (
        "slow"
    ),
    (
        "persistence/test_migrate.py",
        "test_migrations_started_together_run_one_after_the_other",
    ): "postgres",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tiers: by where it lives (``MARKED_PATHS``, ``MARKED_TESTS``)
    and by whether it runs against PostgreSQL (``postgres``: with those deselected, the fast
    tier needs no PostgreSQL at all)."""
    for item in items:
        file = item.path.relative_to(TESTS)
        for path, mark in MARKED_PATHS.items():
            if Path(path) in (file, *file.parents):
                item.add_marker(mark)
        mark = MARKED_TESTS.get((file.as_posix(), item.originalname))
        if mark is not None:
            item.add_marker(mark)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("database_url") == "postgres":
            item.add_marker("postgres")
