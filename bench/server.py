"""``headrace serve`` (or ``headrace worker``) as a subprocess, the way a user starts it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from headrace.client import health

HEADRACE = str(Path(sys.executable).parent / "headrace")
# The API processes of the servers that measure throughput (sections 4 and 5): one per core
# of the 2-core machine the figures are taken on. Add it to a server's environment.
API_PROCESSES = {"HEADRACE_SERVE_PROCESSES": "2"}


def environment(data_dir: Path, database_url: str | None, **settings: str) -> dict[str, str]:
    """The environment of a headrace process on ``data_dir`` (and ``database_url``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADRACE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files
    env["HEADRACE_DATA_DIR"] = str(data_dir)
    env["HEADRACE_LOG_LEVEL"] = "WARNING"
    if database_url:
        env["HEADRACE_DATABASE_URL"] = database_url
    env.update({f"HEADRACE_{k.upper()}": v for k, v in settings.items()})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def vm_kb(pid: int, field: str) -> int:
    """A ``VmRSS``/``VmHWM`` line of /proc/<pid>/status, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


@dataclass(frozen=True)
class Server:
    url: str
    api_key: str
    process: subprocess.Popen[bytes]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def rss_mb(self) -> float:
        return vm_kb(self.process.pid, "VmRSS") / 1024


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if not health.wait_healthy(url, timeout, alive=lambda: process.poll() is None):
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        raise TimeoutError(f"{url} did not come up in {timeout} s")


def create_org(env: Mapping[str, str]) -> str:
    """Migrate the store and make an organisation; its admin key."""
    out = subprocess.run(
        [HEADRACE, "admin", "create-org", "bench", "--json"],
        env=dict(env),
        check=True,
        capture_output=True,
        text=True,
    )
    key: str = json.loads(out.stdout)["api_key"]
    return key


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve(env: Mapping[str, str], api_key: str | None = None) -> Iterator[Server]:
    """A running server on a free loopback port, with an admin key of a new organisation."""
    key = api_key or create_org(env)
    port = free_port()
    log = open(Path(env["HEADRACE_DATA_DIR"]) / "server.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [HEADRACE, "serve", "--port", str(port)],
        env=dict(env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        yield Server(url, key, process)
    finally:
        stop(process)
        log.close()
