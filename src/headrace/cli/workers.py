"""``headrace worker``: one worker process, or several supervised children (``spawn``ed:
deltalake is not fork-safe).

``work`` is also the worker process of ``headrace serve --workers N``, which sweeps as well
(what ``headrace serve``'s in-process worker does beside it) and is woken by its API
processes through a doorbell."""

from __future__ import annotations

import signal
import threading

from headrace.cli.context import freeze_startup_objects, open_database, open_runtime
from headrace.cli.supervisor import ChildSpec, Supervisor
from headrace.execution.doorbell import Doorbell
from headrace.logs import configure as configure_logging
from headrace.settings import Settings
from headrace.telemetry import configure_tracing


def work(
    doorbell: Doorbell | None = None, *, serving: bool = False, name: str | None = None
) -> None:
    """Claim and execute runs until SIGTERM (or SIGINT, or Ctrl-C). ``serving``: the worker
    of ``headrace serve``, which also sweeps, and starts its step processes at its first
    step (an idle server keeps none)."""
    from headrace.services.dispatch import start_dispatcher
    from headrace.services.executors import open_worker

    settings = Settings()
    configure_logging(settings, name)
    configure_tracing()
    # A worker is there to run steps: its first need not wait for a process (a server's
    # starts them at its first step: an idle server keeps none).
    runtime = open_runtime(settings, migrate=False, worker=not serving)
    worker = open_worker(runtime, doorbell=doorbell)
    stop_sweeping = threading.Event()
    if serving:
        from headrace.services.sweep import start_sweeper

        stop_sweeping = start_sweeper(runtime)
        # A Ctrl-C reaches the server's children as well as its parent: a stop, like SIGTERM.
        signal.signal(signal.SIGINT, lambda *_: worker.stop())
    stop_dispatching = start_dispatcher(runtime)
    freeze_startup_objects()
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    try:
        worker.serve()
    except KeyboardInterrupt:
        worker.stop()
    finally:
        stop_sweeping.set()
        stop_dispatching()
        runtime.close()


def _worker_process(name: str) -> None:
    """One of the worker processes of ``headrace worker --processes N``."""
    work(name=name)


def run_workers(processes: int) -> int:
    """Migrate, then claim and execute runs in ``processes`` worker processes: this one, or
    past 1 that many children under the ``Supervisor`` ``headrace serve`` uses (a dead one
    is started again; SIGTERM stops them all). The exit code: 0, or 1 when a child kept
    failing at start-up."""
    settings = Settings()
    if settings.migrate_at_start:
        open_database(settings, migrate=True).dispose()
    if processes <= 1:
        work()
        return 0
    configure_logging(settings, "main")
    names = [f"worker-{i}" for i in range(processes)]
    return Supervisor([ChildSpec(name, _worker_process, (name,)) for name in names]).run()
