"""``headrace sweep``: one sweep (``services/sweep.py``), with what it removed."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from headrace.cli.context import open_runtime
from headrace.logs import configure as configure_logging
from headrace.services.sweep import SweepReport, sweep
from headrace.settings import Settings


def _show(report: SweepReport, console: Console) -> None:
    if report.skipped:
        console.print(f"not swept: {report.skipped}")
    if report.removed:
        table = Table("removed", "bytes")
        for removed in report.removed:
            table.add_row(removed.path, f"{removed.bytes:,}")
        console.print(table)
    for rolled in report.rolled_back:
        console.print(
            f"rolled back {rolled.table}: unrecorded version {rolled.abandoned}, "
            f"back to recorded version {rolled.recorded}"
        )
    for failed in report.failed:
        console.print(f"[red]could not sweep {failed}[/red] (see the log above)")
    console.print(
        f"{len(report.removed)} files and folders removed, {report.bytes_freed:,} bytes freed, "
        f"{len(report.rolled_back)} abandoned commits rolled back"
    )


def run_sweep() -> int:
    """Sweep once; the exit status is 1 when some table could not be swept."""
    settings = Settings()
    configure_logging(settings)
    with open_runtime(settings, migrate=False) as runtime:
        report = sweep(runtime)
    _show(report, Console(width=None if sys.stdout.isatty() else 200))
    return 1 if report.failed else 0
