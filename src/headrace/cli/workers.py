"""``headrace worker``: worker processes, started with ``spawn`` (deltalake is not fork-safe)."""

from __future__ import annotations

import multiprocessing
import signal

from headrace.cli.context import freeze_startup_objects, open_database
from headrace.logs import configure as configure_logging
from headrace.settings import Settings


def _work() -> None:
    from headrace.execution.worker import Worker

    settings = Settings()
    configure_logging(settings)
    worker = Worker(open_database(settings, migrate=False), settings)
    if settings.executor == "local":
        from headrace.execution.step_process import READY

        READY.start()  # a worker is there to run steps: its first need not wait for a process
    freeze_startup_objects()
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    try:
        worker.serve()
    except KeyboardInterrupt:
        worker.stop()


def run_workers(processes: int) -> None:
    settings = Settings()
    open_database(settings, migrate=True).dispose()
    if processes <= 1:
        _work()
        return
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_work, name=f"headrace-worker-{i}") for i in range(processes)
    ]
    for child in children:
        child.start()

    def stop_children(*_: object) -> None:
        # Spawned children do not get the parent's signals: pass the stop on, then wait for
        # them below (each finishes its current run's bookkeeping and exits).
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop_children)
    try:
        for child in children:
            child.join()
    except KeyboardInterrupt:
        for child in children:
            child.terminate()
