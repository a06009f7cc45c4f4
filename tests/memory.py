"""Memory figures of a ``headrace serve`` subprocess, read from /proc (Linux)."""

from __future__ import annotations

import re
from pathlib import Path


def server_pid(url: str) -> int:
    """The pid of the ``headrace serve`` process listening on the port of ``url``."""
    port = url.rsplit(":", 1)[1].encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and port in argv:
            return int(entry.name)
    raise AssertionError(f"no headrace serve process on {url}")


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match.group(1))
