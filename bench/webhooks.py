"""Webhooks (issue 15): what one delivery costs, from the outbox to the receiver's answer.

In-process on SQLite: runs are created and cancelled (one ``run.cancelled`` event each), then
a dispatcher drains the outbox (the consumer queues one delivery per event) and sends every
delivery to a loopback receiver that answers 204 (sign, resolve and check the URL, POST,
record the attempt). Each repeat is one dispatcher round, divided by the deliveries it sent.
Baseline: the same bodies POSTed with a plain ``httpx.Client`` to the same receiver.
"""

from __future__ import annotations

import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.stats import Figure
from headrace.domain.access import Principal, Role
from headrace.domain.events import EventType
from headrace.domain.pipeline import DataTransform, Step
from headrace.persistence.db import Database
from headrace.persistence.migrate import upgrade
from headrace.persistence.repositories import deliveries as deliveries_repo
from headrace.services import keys, pipelines, runs, webhooks
from headrace.services.dispatch import Dispatcher, consumers
from headrace.services.senders import open_senders
from headrace.settings import Settings

STEP = Step("one", DataTransform("SELECT 1 AS n", (), ("one",)))


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def measure(quick: bool) -> dict[str, Any]:
    count = 50 if quick else 500
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    rounds: list[float] = []
    plain: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="headrace-bench-hooks-") as tmp:
            store = f"sqlite:///{Path(tmp) / 'headrace.db'}"
            settings = Settings(
                data_dir=Path(tmp) / "data",
                database_url=store,
                run_worker=False,
                secret_key=SecretStr("bench-server-key-" + "b" * 32),
                webhook_allow_private=True,
            )
            db = Database(store)
            upgrade(db.engine)
            org = keys.create_org(db, "bench")
            who = Principal(org.record.org_id, org.record.id, Role.ADMIN)
            webhooks.create(db, settings, who, url, [EventType.RUN_CANCELLED], "")
            pipeline = pipelines.create(db, who, "hooked", "", [STEP]).pipeline.id
            for _ in range(count):
                view = runs.create(
                    db, settings, who, pipeline, start=None, end=None, version_id=None
                )
                runs.cancel(db, who, pipeline, view.run.id)
            senders, close = open_senders(db, settings)
            dispatcher = Dispatcher(db, consumers(db, settings), senders)
            while True:
                started = time.perf_counter()
                sent = dispatcher.tick()
                if not sent:
                    break
                rounds.append((time.perf_counter() - started) / sent)
            close()
            with db.unit_of_work(write=False) as conn:
                bodies = [d.payload for d in deliveries_repo.of_sink(conn, webhooks.SINK)]
            assert len(bodies) == count and all(bodies)
            db.dispose()
        with httpx.Client() as client:
            for body in bodies:
                started = time.perf_counter()
                client.post(url, content=body, headers={"content-type": "application/json"})
                plain.append(time.perf_counter() - started)
    finally:
        server.shutdown()
        server.server_close()
    base = Figure("a plain httpx POST of the same body", plain, "s")
    per = Figure("one delivery: queued from the outbox, signed, sent, recorded", rounds, "s")
    return {
        "title": f"Webhooks: {count:,} deliveries to a loopback receiver (SQLite)",
        "figures": [base.as_dict(None), per.as_dict(base)],
    }
