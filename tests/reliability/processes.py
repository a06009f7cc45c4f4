"""headrace as its users run it, in processes a test may kill: ``headrace serve`` and
``headrace worker`` over one metadata store and one warehouse, so that a server started again
after ``kill -9`` finds everything its predecessor left behind."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from headrace.persistence.db import Database
from headrace.persistence.migrate import upgrade
from headrace.services import keys
from tests.factories import Api
from tests.live import free_port, headrace_command, wait_healthy

# Short enough that a run left behind by a killed process is taken over within seconds.
LEASE_SECONDS = "2"


@dataclass
class Installation:
    """One metadata store and one warehouse, shared by every process started from it."""

    root: Path
    database_url: str
    settings: dict[str, str] = field(default_factory=dict)
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    def environment(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "HEADRACE_DATA_DIR": str(self.root / "data"),
            "HEADRACE_DATABASE_URL": self.database_url,
            "HEADRACE_WAREHOUSE": str(self.warehouse),
            "HEADRACE_LEASE_SECONDS": LEASE_SECONDS,
            "HEADRACE_WORKER_POLL_SECONDS": "0.02",
            "HEADRACE_EVENTS_POLL_SECONDS": "0.05",
            **self.settings,
            **extra,
        }

    def migrate(self) -> None:
        db = Database(self.database_url)
        try:
            upgrade(db.engine)
        finally:
            db.dispose()

    def new_org(self) -> tuple[str, str]:
        """The admin key and id of a fresh organisation."""
        db = Database(self.database_url)
        try:
            made = keys.create_org(db, f"org-{uuid.uuid4().hex[:6]}")
        finally:
            db.dispose()
        return made.secret, str(made.record.org_id)

    def _log(self, name: str) -> Path:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        return logs / f"{name}-{uuid.uuid4().hex[:6]}.log"

    def start_server(
        self, *, prefix: Sequence[str] = (), args: Sequence[str] = (), **extra: str
    ) -> ServerProcess:
        """``headrace serve`` on a free port; ``prefix`` wraps the command (e.g. ``setpriv``),
        ``args`` are more of its options."""
        port = free_port()
        log = self._log("server")
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*prefix, *headrace_command("serve", "--port", str(port), *args)],
                env=self.environment(**extra),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        server = ServerProcess(f"http://127.0.0.1:{port}", process, log)
        wait_healthy(server.url, process, log, timeout=120)  # start-up is slow on a busy CI box
        return server

    def start_worker(self, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        """``headrace worker`` with the options ``args`` (its log under ``logs/worker-*``);
        the caller stops it."""
        with self._log("worker").open("wb") as out:
            process = subprocess.Popen(
                headrace_command("worker", *args),
                env=self.environment(**extra),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    def sweep(self) -> str:
        """``headrace sweep`` with everything taken as past the grace period (the caller makes
        sure no write is in flight); its output."""
        done = subprocess.run(
            headrace_command("sweep"),
            env=self.environment(
                HEADRACE_UNRECORDED_GRACE_SECONDS="0", HEADRACE_STEP_TIMEOUT_SECONDS="0"
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    @property
    def scratch(self) -> Path:
        return self.root / "data" / "tmp"

    def stop_everything(self) -> None:
        """Stop every process started from here that still runs (a test's teardown)."""
        stop_all(self.started)


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, key: str, org_id: str, timeout: float = 60) -> Api:
        return Api(httpx.Client(base_url=self.url, timeout=timeout), key, org_id)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no clean-up, exactly what a crash leaves behind."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def stop_all(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
