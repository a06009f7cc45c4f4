"""HTTP load from one client (latency per request) or many at once (requests per second).

The clients are the standard library's ``http.client``, one keep-alive HTTP/1.1 connection
each, reading every response body in full. They share the server's two cores, so they must
cost little: httpx spent ~3 ms of CPU receiving one 0.7 MB listing page (8-10 ms each with 16
threads contending for the GIL), as much as the server spent producing it; ``http.client``
reads the same page in ~0.8 ms (a single ``read`` of its ``Content-Length``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    """One request that must answer 2xx."""

    method: str
    path: str
    body: bytes | None = None
    content_type: str | None = None
    headers: Mapping[str, str] | None = None  # beside the connection's own


def get(path: str) -> Request:
    return Request("GET", path)


def post_json(path: str, body: Any) -> Request:
    return Request("POST", path, json.dumps(body).encode(), "application/json")


class Connection:
    """A keep-alive connection to the server, with the headers every request carries."""

    def __init__(self, url: str, headers: Mapping[str, str]) -> None:
        parts = urlsplit(url)
        self._conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
        self._headers = dict(headers)

    def send(self, request: Request) -> bytes:
        """The body of the answer to ``request``; raises on a status outside 2xx."""
        headers = self._headers | dict(request.headers or {})
        if request.content_type is not None:
            headers = headers | {"Content-Type": request.content_type}
        self._conn.request(request.method, request.path, request.body, headers)
        response = self._conn.getresponse()
        body = response.read()
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{request.method} {request.path}: {response.status} {body[:300]!r}")
        return body

    def close(self) -> None:
        self._conn.close()


def latencies_ms(
    url: str, headers: Mapping[str, str], request: Request, count: int, warmup: int = 5
) -> list[float]:
    """Milliseconds of each of ``count`` requests sent one after the other on one connection."""
    samples = []
    conn = Connection(url, headers)
    try:
        for _ in range(warmup):
            conn.send(request)
        for _ in range(count):
            start = time.perf_counter()
            conn.send(request)
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        conn.close()
    return samples


def rate(
    url: str, headers: Mapping[str, str], request: Request, total: int, clients: int = 16
) -> float:
    """Requests per second when ``clients`` threads, each on its own connection, send
    ``total`` requests between them as fast as they are answered."""
    left = [total]
    lock = threading.Lock()
    errors: list[BaseException] = []
    ready = threading.Barrier(clients + 1)

    def work() -> None:
        conn = Connection(url, headers)
        try:
            conn.send(request)  # connect before the clock starts
            ready.wait()
            while True:
                with lock:
                    if left[0] == 0:
                        return
                    left[0] -= 1
                conn.send(request)
        except BaseException as err:  # reported after the run
            errors.append(err)
            ready.abort()  # a client that failed before the start must not hang the others
        finally:
            conn.close()

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a client failed: see below
        ready.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return total / elapsed
