"""A progress bar for the bytes of an upload or a download, on stderr when it is a terminal
(nothing in pipes and CI logs, where the command's one line of result is what matters)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@contextmanager
def transfer_bar(
    description: str, console: Console | None = None
) -> Iterator[Callable[[int, int | None], None]]:
    """A ``progress`` callback for ``Client.upload_dataset`` / ``download_dataset`` that
    draws a bar (bytes, speed, time left) while the block runs."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = console or Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
