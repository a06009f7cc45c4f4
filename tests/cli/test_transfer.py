"""The upload/download progress bar: drawn on a terminal, silent elsewhere."""

from __future__ import annotations

import io

from rich.console import Console

from headrace.cli.remote.transfer import transfer_bar


def _drawn(terminal: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=100)
    with transfer_bar("uploading t.csv", console) as progress:
        for done in range(0, 3_000_001, 1_000_000):
            progress(done, 3_000_000)
    return out.getvalue()


def test_a_terminal_sees_the_bar_with_the_bytes_moved() -> None:
    drawn = _drawn(terminal=True)
    assert "uploading t.csv" in drawn
    assert "3.0/3.0 MB" in drawn


def test_pipes_and_logs_get_no_bar() -> None:
    assert _drawn(terminal=False) == ""
