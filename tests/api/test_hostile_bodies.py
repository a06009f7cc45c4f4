"""Hostile client, bodies: every body has a size cap, and none is read before the key is known
good (issue 21 item 1). In process over ASGI, and against a live ``headrace serve`` whose
memory is measured."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from headrace.api.app import create_app
from headrace.persistence.db import Database
from headrace.settings import Settings
from tests.api.test_bad_uploads import check_error_shape
from tests.factories import Api, generated_steps, make_pipeline, make_step
from tests.live import serve
from tests.memory import peak_rss_kib, server_pid

MiB = 1024 * 1024


async def _call(app: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
    """``app`` called straight over ASGI with ``body``; returns the answer's status and
    JSON, and whether the app asked for the body at all."""
    asked: list[bool] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        asked.append(True)
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(payload), bool(asked)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer hr_not-a-key"}, {"Api-key": "hr_not-a-key"}],
    ids=["no key", "unknown bearer", "unknown api-key"],
)
def test_a_body_without_a_good_key_is_never_read(
    settings: Settings, db: Database, headers: dict[str, str]
) -> None:
    app = create_app(settings)
    body = json.dumps({"name": "x", "steps": [{}] * 1000}).encode()
    for method, path in [
        ("POST", "/pipelines/"),
        ("POST", "/api-keys/"),
        ("POST", f"/pipelines/{uuid.uuid4()}/runs/"),
        ("PATCH", f"/pipelines/{uuid.uuid4()}/"),
        ("PUT", "/datasets/upsert/"),
        ("POST", "/datasets/"),
    ]:
        status, answer, asked = asyncio.run(_call(app, method, path, headers, body))
        assert (status, answer["code"], asked) == (401, "unauthorized", False), (path, answer)


def test_a_good_key_of_another_organisation_header_is_refused_unread(
    settings: Settings, db: Database, api: Api
) -> None:
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {api.key}", "Current-Org-Id": str(uuid.uuid4())}
    status, answer, asked = asyncio.run(_call(app, "POST", "/pipelines/", headers, b"{}"))
    assert (status, answer["code"], asked) == (403, "forbidden", False)


def test_every_json_body_has_a_size_cap(settings: Settings, db: Database) -> None:
    small = settings.model_copy(update={"max_body_bytes": 4096})
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        api = Api(client, *_org(db))
        steps = [make_step(f"s{i}", "SELECT 1 AS n -- " + "x" * 2000) for i in range(3)]
        r = api.post("/pipelines/", json={"name": "big", "steps": steps})
        body = check_error_shape(r, 413)
        assert "4096 bytes" in body["detail"]
        # the same cap when the body comes in chunks without a Content-Length
        raw = json.dumps({"name": "big", "steps": steps}).encode()
        r = api.post(
            "/pipelines/",
            content=iter([raw[:3000], raw[3000:]]),
            headers={"Content-Type": "application/json"},
        )
        check_error_shape(r, 413)
        # under the cap, as before
        assert make_pipeline(api, generated_steps())["name"]


def _org(db: Database) -> tuple[str, str]:
    from headrace.services import keys

    made = keys.create_org(db, f"org-{uuid.uuid4().hex[:6]}")
    return made.secret, str(made.record.org_id)


def _post_without_key(url: str, path: str, size: int) -> int | None:
    """Sends ``size`` bytes of JSON to ``path`` with no key over a raw socket, all of them
    even when the server has answered already (as the probe did); the answer's status, or
    None when the connection was dropped without one."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    chunk = b'{"name":"x","steps":[' + b"{}," * (64 * 1024)
    answer = b""
    with socket.create_connection((host, int(port)), timeout=30) as s:
        try:
            s.sendall(head)
            sent = 0
            while sent < size:
                part = chunk[: size - sent]
                s.sendall(part)
                sent += len(part)
            while b"\r\n\r\n" not in answer and (part := s.recv(65536)):
                answer += part
        except OSError:
            pass
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None


def test_a_large_body_without_a_key_costs_the_server_nothing(tmp_path: Path) -> None:
    """The probe of issue 21: 42 MB of ``{"name":"x","steps":[{},{},…]}`` with no key, to each
    route that takes a JSON body, while /healthz is polled. Before the fix the server grew by
    about 1 GB and /healthz stalled for seconds."""
    size = 42 * MiB
    with serve(tmp_path / "srv") as served:
        pid = server_pid(served.url)
        api = Api(httpx.Client(base_url=served.url, timeout=30), served.new_org_key(), "")
        pipeline = make_pipeline(api, generated_steps())
        paths = ["/pipelines/", "/api-keys/", f"/pipelines/{pipeline['id']}/runs/"]
        for path in paths:  # warm every path once
            assert _post_without_key(served.url, path, 1000) == 401
        baseline = peak_rss_kib(pid)
        slowest = 0.0
        done = threading.Event()
        statuses: list[int | None] = []

        def probe() -> None:
            for path in paths:
                statuses.append(_post_without_key(served.url, path, size))
            done.set()

        sender = threading.Thread(target=probe)
        started = time.perf_counter()
        sender.start()
        with httpx.Client(base_url=served.url, timeout=30) as health:
            while not done.is_set():
                before = time.perf_counter()
                assert health.get("/healthz").status_code == 200
                slowest = max(slowest, time.perf_counter() - before)
        sender.join()
        elapsed = time.perf_counter() - started
        growth_kib = peak_rss_kib(pid) - baseline
        print(
            f"\n3 x {size // MiB} MiB bodies without a key: {statuses}, {elapsed:.2f} s; server "
            f"peak RSS +{growth_kib / 1024:.1f} MiB; slowest /healthz {slowest * 1000:.0f} ms"
        )
        assert statuses == [401, 401, 401]
        assert growth_kib < 16 * 1024
        assert slowest < 1.0
