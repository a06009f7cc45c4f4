"""Waiting for a headrace server to come up: for deploy scripts, and the harnesses of the
tests and benchmarks that start ``headrace serve`` themselves."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

POLL_SECONDS = 0.05


def wait_healthy(url: str, timeout: float, *, alive: Callable[[], bool] = lambda: True) -> bool:
    """Poll ``GET {url}/healthz`` until it answers 200 (True), or until ``timeout`` seconds
    have passed or ``alive()`` turns false, e.g. the server's process ended (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(POLL_SECONDS)
    return False
