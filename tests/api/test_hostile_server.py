"""Hostile client, the server's own surface (issue 21 item 7): the files of its data
directory are its user's alone, its access log does not print secrets sent in a query
string, and one key cannot hold event streams open without limit."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx

from headrace.api.app import create_app
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.settings import Settings
from tests.api.test_bad_uploads import check_error_shape
from tests.execution.support import wait_for
from tests.factories import Api, generated_steps, make_org, make_pipeline, make_run
from tests.live import serve, serve_in_thread

SECRET = "hr_SecretSentInTheQueryString"


def _everything(root: Path) -> Iterator[tuple[Path, int]]:
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if not path.is_symlink():
                yield path, stat.S_IMODE(path.lstat().st_mode)


def test_the_data_directory_is_private_and_the_log_keeps_no_secrets(tmp_path: Path) -> None:
    """An upload, a run (its step process writes the output) and a request carrying a key in
    its query string; then every file and folder under the data directory, and the log."""
    with serve(tmp_path / "srv") as served:
        api = Api(httpx.Client(base_url=served.url, timeout=60), served.new_org_key(), "")
        r = api.post("/datasets/", data={"name": "up"}, files={"file": ("u.csv", b"a\n1\n")})
        assert r.status_code == 201, r.text
        pipeline = make_pipeline(api, generated_steps())
        run = make_run(api, pipeline["id"])

        def ended() -> bool:
            got = api.get(f"/pipelines/{pipeline['id']}/runs/{run['id']}/").json()
            return bool(got["status"] == "Succeeded")

        wait_for(ended, 180, "the run")
        r = httpx.get(f"{served.url}/pipelines/?api_key={SECRET}&limit=5")
        assert r.status_code == 401
        log = "".join(p.read_text() for p in served.data_dir.glob("server-*.log"))
        found = list(_everything(served.data_dir))
    open_to_others = [(str(p), oct(m)) for p, m in found if m & 0o077 and "server-" not in p.name]
    assert len(found) > 10 and open_to_others == [], open_to_others
    assert SECRET not in log
    assert "/pipelines/?api_key=***&limit=5" in log, log[-2000:]


def test_one_key_holds_a_bounded_number_of_event_streams(db: Database, settings: Settings) -> None:
    capped = settings.model_copy(
        update={
            "max_streams_per_key": 2,
            "events_poll_seconds": 0.02,
            "events_keepalive_seconds": 0.05,
        }
    )
    with Runtime(capped, db) as rt, serve_in_thread(create_app(capped, rt)) as url:
        http = httpx.Client(base_url=url, timeout=30)
        api = make_org(http, db)  # type: ignore[arg-type]
        other_key = api.with_role("viewer")
        pipeline = make_pipeline(api, generated_steps())
        run = make_run(api, pipeline["id"])  # no worker here: it stays Pending, streams stay open
        path = f"/pipelines/{pipeline['id']}/runs/{run['id']}/events/"
        with ExitStack() as streams:
            for _ in range(2):
                opened = streams.enter_context(http.stream("GET", path, headers=api.headers()))
                assert opened.status_code == 200
            with http.stream("GET", path, headers=api.headers()) as third:
                assert third.status_code == 429  # (a stream, before the fix: not read)
                third.read()
                assert check_error_shape(third, 429)["code"] == "too_many_requests"
            # another key of the same organisation has streams of its own
            with http.stream("GET", path, headers=other_key.headers()) as theirs:
                assert theirs.status_code == 200
        # both closed: the server notices at its next keepalive and the key may stream again
        deadline = time.monotonic() + 30
        while True:
            with http.stream("GET", path, headers=api.headers()) as again:
                if again.status_code == 200:
                    break
            assert time.monotonic() < deadline, "the closed streams were never given back"
            time.sleep(0.05)
