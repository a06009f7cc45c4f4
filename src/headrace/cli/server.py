"""``headrace serve``: migrate, then serve the API with uvicorn, in one process or several.

One process (the default) serves the API and runs the worker and the sweeper on threads of
its own. With ``workers`` > 1 the parent migrates the store, binds the port and starts, as
spawned children under a ``Supervisor``: that many API processes sharing the listening
socket (the kernel hands each connection to one of them), each with its in-process worker
off, and, unless ``HEADRACE_RUN_WORKER=false``, one worker process that executes the runs
and sweeps (so SQLite, which allows one worker, still has one). The API processes wake it
through a ``SocketDoorbell`` when they create a run; it also polls (``worker_poll_seconds``,
backing off to ``worker_idle_poll_seconds``), which is how it finds runs created by any other
process.

Per process: each keeps its own caches (pipeline versions, ended runs' JSON, API keys for
``key_cache_seconds``) and its own pool of up to 40 store connections. ``/metrics`` sums
the request latencies of every API process (``prometheus_client``'s multiprocess mode,
in a folder the parent makes, or ``PROMETHEUS_MULTIPROC_DIR`` when it is set).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from headrace.cli.context import freeze_startup_objects, open_database, open_runtime
from headrace.cli.supervisor import ChildSpec, Supervisor
from headrace.execution.doorbell import Doorbell
from headrace.logs import configure as configure_logging
from headrace.settings import Settings
from headrace.telemetry import configure_tracing

log = logging.getLogger("headrace.serve")
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


class SocketDoorbell(Doorbell):
    """A doorbell that rings across the processes of one server: a ring is an empty
    datagram sent to a Unix socket that only the worker process binds (``listen``).

    A ring nobody hears (the worker is restarting, or its queue is full because it has not
    looked yet) is dropped: the worker still polls, and a full queue means it will look."""

    def __init__(self, path: str, *, listen: bool = False) -> None:
        super().__init__()
        self.path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        if listen:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # left by a worker process that died
            self._socket.bind(path)

    def ring(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.sendto(b"", self.path)

    def wait(self, timeout: float) -> bool:
        rung, _, _ = select.select([self._socket], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while True:  # one look for work answers every ring so far
                self._socket.recv(1)
        return bool(rung)


# uvicorn's own lines go through our handler (and its format), at the level configured for
# every logger: log_config=None keeps its handlers out, log_level=None its levels (its "info"
# wrote an access line per request whatever HEADRACE_LOG_LEVEL said).
UVICORN_LOGGING: dict[str, Any] = {"log_config": None, "log_level": None}


def _serve_api(name: str, listening: socket.socket, doorbell_path: str | None) -> None:
    """An API process of a server with several: serves on the parent's socket."""
    import uvicorn

    from headrace.api.app import create_app

    settings = Settings().model_copy(update={"run_worker": False})
    configure_logging(settings, name)
    configure_tracing()
    doorbell = SocketDoorbell(doorbell_path) if doorbell_path else None
    with open_runtime(settings, migrate=False) as runtime:
        app = create_app(settings, runtime, doorbell)
        freeze_startup_objects()
        server = uvicorn.Server(uvicorn.Config(app, **UVICORN_LOGGING))
        server.run(sockets=[listening])
    if not server.started:
        sys.exit(3)  # what uvicorn.run exits with when it could not start


def _serve_worker(doorbell_path: str) -> None:
    from headrace.cli.workers import work

    work(SocketDoorbell(doorbell_path, listen=True), serving=True, name="worker")


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


def run_server(host: str, port: int, workers: int | None = None) -> int:
    """Serve until stopped; ``workers``: API processes (``HEADRACE_SERVE_PROCESSES`` when
    None). The exit code: 0, or 1 when a child process kept failing at start-up."""
    settings = Settings()
    processes = workers if workers is not None else settings.serve_processes
    if processes < 1:
        raise ValueError("the server needs at least one API process")
    if processes == 1:
        import uvicorn

        from headrace.api.app import create_app

        configure_logging(settings)
        configure_tracing()
        with open_runtime(settings, migrate=settings.migrate_at_start) as rt:
            app = create_app(settings, rt)
            freeze_startup_objects()
            uvicorn.run(app, host=host, port=port, **UVICORN_LOGGING)
        return 0
    configure_logging(settings, "main")
    if settings.migrate_at_start:  # once, before any child starts
        open_database(settings, migrate=True).dispose()
    runtime = Path(tempfile.mkdtemp(prefix="headrace-serve-"))
    shared_metrics = os.environ.get(MULTIPROC_DIR)
    metrics_dir = Path(shared_metrics) if shared_metrics else runtime / "metrics"
    for stale in metrics_dir.glob("*.db"):  # counts of an earlier server would be summed in
        stale.unlink()
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_DIR] = str(metrics_dir)  # spawned children inherit it
    doorbell = str(runtime / "doorbell") if settings.run_worker else None
    listening = _listen(host, port)
    specs = [
        ChildSpec(f"api-{i}", _serve_api, (f"api-{i}", listening, doorbell))
        for i in range(processes)
    ]
    if doorbell is not None:
        specs.append(ChildSpec("worker", _serve_worker, (doorbell,)))
    log.info(
        "serving on %s:%s with %d API processes%s",
        host,
        port,
        processes,
        " and a worker process" if doorbell else "",
    )
    try:
        return Supervisor(specs).run()
    finally:
        listening.close()
        shutil.rmtree(runtime, ignore_errors=True)
        if not shared_metrics:
            os.environ.pop(MULTIPROC_DIR, None)
