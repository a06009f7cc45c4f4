"""HTTP load from one client (latency per request) or many at once (requests per second)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import httpx

Request = Callable[[httpx.Client], httpx.Response]


def get(path: str) -> Request:
    """A GET of ``path`` that must answer 2xx."""

    def send(client: httpx.Client) -> httpx.Response:
        return client.get(path).raise_for_status()

    return send


def client(url: str, headers: Mapping[str, str]) -> httpx.Client:
    return httpx.Client(base_url=url, headers=dict(headers), timeout=60)


def latencies_ms(
    url: str, headers: Mapping[str, str], request: Request, count: int, warmup: int = 5
) -> list[float]:
    """Milliseconds of each of ``count`` requests sent one after the other on one connection."""
    samples = []
    with client(url, headers) as c:
        for _ in range(warmup):
            request(c)
        for _ in range(count):
            start = time.perf_counter()
            request(c)
            samples.append((time.perf_counter() - start) * 1000)
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
        with client(url, headers) as c:
            request(c)  # connect before the clock starts
            ready.wait()
            while True:
                with lock:
                    if left[0] == 0:
                        return
                    left[0] -= 1
                try:
                    request(c)
                except BaseException as err:  # reported after the run
                    errors.append(err)
                    return

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return total / elapsed
