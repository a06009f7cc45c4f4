"""Real servers for tests that need one: ``headrace serve`` as a subprocess (what users run)
and uvicorn in a thread over a test's own metadata store (for streams the test drives)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from headrace.client import health
from headrace.persistence.db import Database
from headrace.services import keys
from tests.factories import TEST_SECRET_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def headrace_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "headrace.cli.main", *args]


@dataclass(frozen=True)
class Served:
    url: str
    data_dir: Path

    @property
    def database_url(self) -> str:
        return f"sqlite:///{(self.data_dir / 'headrace.db').resolve()}"

    def new_org_key(self) -> str:
        """The admin key of a fresh organisation (tests stay apart by tenant)."""
        db = Database(self.database_url)
        try:
            return keys.create_org(db, f"org-{os.urandom(3).hex()}").secret
        finally:
            db.dispose()


def wait_healthy(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120
) -> None:
    if not health.wait_healthy(url, timeout, alive=lambda: process.poll() is None):
        state = "exited" if process.poll() is not None else "did not become healthy"
        raise RuntimeError(f"headrace serve {state}: {log.read_text()[-2000:]}")


@contextmanager
def serve(data_dir: Path, **env: str) -> Iterator[Served]:
    """``headrace serve`` on a free loopback port over SQLite in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environment = {
        **os.environ,
        "HEADRACE_DATA_DIR": str(data_dir),
        "HEADRACE_EVENTS_POLL_SECONDS": "0.05",
        "HEADRACE_WORKER_POLL_SECONDS": "0.02",
        **env,
    }
    environment.pop("HEADRACE_DATABASE_URL", None)
    environment.pop("HEADRACE_WAREHOUSE", None)
    log = data_dir / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            headrace_command("serve", "--port", str(port)),
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield Served(url, data_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """``app`` behind uvicorn in this process; its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One ``headrace serve`` (with its in-process worker) for the session; it sends webhooks
    to loopback receivers."""
    webhooks = {
        "HEADRACE_SECRET_KEY": TEST_SECRET_KEY,
        "HEADRACE_WEBHOOK_ALLOW_PRIVATE": "true",
        "HEADRACE_DELIVERY_POLL_SECONDS": "0.05",
    }
    with serve(tmp_path_factory.mktemp("served"), **webhooks) as server:
        yield server
