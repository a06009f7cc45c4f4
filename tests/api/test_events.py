"""The run event stream: one event per status change, resumable with Last-Event-ID.

The test plays the worker by writing statuses into the metadata store, so every change and
its order are known; the stream is read from a real server (uvicorn in a thread)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from headrace.api.app import create_app
from headrace.client.sse import ServerSentEvent, apply, parse
from headrace.domain.runs import RunStatus, StepStatus
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.settings import Settings
from tests.factories import Api, make_pipeline, move_run_to
from tests.live import serve_in_thread


@pytest.fixture
def live_url(db: Database, settings: Settings) -> Iterator[str]:
    fast = settings.model_copy(update={"events_poll_seconds": 0.02})
    with Runtime(fast, db) as rt, serve_in_thread(create_app(fast, rt)) as url:
        yield url


@pytest.fixture
def other_live_url(db: Database, settings: Settings) -> Iterator[str]:
    """A second API server over the same metadata store, sharing nothing else with the first:
    what another process of ``headrace serve --workers N`` is."""
    fast = settings.model_copy(update={"events_poll_seconds": 0.02})
    with Runtime(fast, db) as rt, serve_in_thread(create_app(fast, rt)) as url:
        yield url


def _set(db: Database, run_id: str, run: str | None = None, **steps: str) -> None:
    """Change statuses in one transaction, as a worker would."""
    move_run_to(
        db,
        run_id,
        None if run is None else RunStatus(run),
        {name: StepStatus(status) for name, status in steps.items()},
    )


class Stream:
    """An open event stream, read one event at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.events = parse(response.iter_lines())

    def next(self) -> ServerSentEvent:
        return next(self.events)


def _open(http: httpx.Client, api: Api, path: str, last_event_id: str | None = None) -> Any:
    headers = api.headers({"Last-Event-ID": last_event_id} if last_event_id else None)
    return http.stream("GET", path, headers=headers)


def _seq(event: ServerSentEvent) -> int:
    assert event.id is not None
    assert event.id is not None
    return int(event.id)


def test_stream_follows_every_change_and_resumes_without_gaps_or_repeats(
    api: Api, db: Database, live_url: str
) -> None:
    pipeline = make_pipeline(api)
    run = api.post(f"/pipelines/{pipeline['id']}/runs/", json={}).json()
    path = f"/pipelines/{pipeline['id']}/runs/{run['id']}/events/"
    seen: list[ServerSentEvent] = []
    with httpx.Client(base_url=live_url, timeout=10) as http:
        with _open(http, api, path) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = Stream(response)
            first = stream.next()
            assert first.event == "run"
            assert json.loads(first.data)["status"] == "Pending"
            seen.append(first)
            _set(db, run["id"], "Running", gen="Running")
            seen += [stream.next(), stream.next()]
        # Disconnected: these happen while nobody listens.
        _set(db, run["id"], gen="Succeeded", double="Running")
        with _open(http, api, path, last_event_id=seen[-1].id) as response:
            stream = Stream(response)
            missed = [stream.next(), stream.next()]
            _set(db, run["id"], "Succeeded", double="Succeeded", total="Succeeded")
            rest = [stream.next(), stream.next(), stream.next(), stream.next()]
            end = stream.next()
            assert list(stream.events) == []  # the stream closes after `end`
    assert [(e.event, json.loads(e.data).get("status")) for e in seen[1:]] == [
        ("run", "Running"),
        ("step", None),
    ]
    changed = [json.loads(e.data)["run_steps"][0] for e in missed]
    assert [(s["name"], s["status"]) for s in changed] == [
        ("gen", "Succeeded"),
        ("double", "Running"),
    ]
    # `total` was reported ended before anyone saw it start: it went through Running.
    assert [(e.event, json.loads(e.data).get("run_steps", [{}])[0].get("name")) for e in rest] == [
        ("step", "double"),
        ("step", "total"),
        ("step", "total"),
        ("run", None),
    ]
    assert (end.event, json.loads(end.data)) == ("end", {"status": "Succeeded"})
    everything = [*seen, *missed, *rest]
    ids = [_seq(e) for e in everything]
    assert ids == sorted(set(ids))  # each once, in order
    state = json.loads(first.data)
    for event in everything[1:]:
        state = apply(state, json.loads(event.data))
    final = api.get(f"/pipelines/{pipeline['id']}/runs/{run['id']}/").json()
    assert state["status"] == final["status"] == "Succeeded"
    assert {s["name"]: s["status"] for s in state["run_steps"]} == {
        s["name"]: s["status"] for s in final["run_steps"]
    }


def test_resuming_an_ended_run_only_ends_and_a_new_stream_starts_afresh(
    api: Api, db: Database, live_url: str
) -> None:
    pipeline = make_pipeline(api)
    run = api.post(f"/pipelines/{pipeline['id']}/runs/", json={}).json()
    api.post(f"/pipelines/{pipeline['id']}/runs/{run['id']}/cancel/")
    path = f"/pipelines/{pipeline['id']}/runs/{run['id']}/events/"
    with httpx.Client(base_url=live_url, timeout=10) as http:
        with _open(http, api, path) as response:
            whole, end = list(parse(response.iter_lines()))
        assert json.loads(whole.data)["run_steps"][0]["status"] == "Cancelled"
        assert end.event == "end"
        with _open(http, api, path, last_event_id=whole.id) as response:
            assert [e.event for e in parse(response.iter_lines())] == ["end"]
        with _open(http, api, path) as response:  # no id: afresh
            again = list(parse(response.iter_lines()))
        assert [e.event for e in again] == ["run", "end"]
        assert json.loads(again[0].data)["id"] == run["id"]


def test_events_need_a_key_and_hide_other_organisations(api: Api, db: Database) -> None:
    from tests.factories import make_org

    pipeline = make_pipeline(api)
    run = api.post(f"/pipelines/{pipeline['id']}/runs/", json={}).json()
    path = f"/pipelines/{pipeline['id']}/runs/{run['id']}/events/"
    assert api.client.get(path).status_code == 401
    other = make_org(api.client, db)
    r = other.get(path)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert api.get(f"/pipelines/{pipeline['id']}/runs/{uuid.uuid4()}/events").status_code == 404


def test_a_stream_resumes_on_another_api_process_with_every_event_once(
    api: Api, db: Database, live_url: str, other_live_url: str
) -> None:
    pipeline = make_pipeline(api)
    run = api.post(f"/pipelines/{pipeline['id']}/runs/", json={}).json()
    path = f"/pipelines/{pipeline['id']}/runs/{run['id']}/events/"
    with (
        httpx.Client(base_url=live_url, timeout=10) as first_server,
        _open(first_server, api, path) as response,
    ):
        stream = Stream(response)
        whole = stream.next()
        _set(db, run["id"], "Running", gen="Running")
        seen = [stream.next(), stream.next()]
    _set(db, run["id"], gen="Succeeded", double="Running")
    with (
        httpx.Client(base_url=other_live_url, timeout=10) as second_server,
        _open(second_server, api, path, last_event_id=seen[-1].id) as response,
    ):
        stream = Stream(response)
        missed = [stream.next(), stream.next()]
        _set(db, run["id"], "Failed", double="Failed", total="Omitted")
        rest = [stream.next(), stream.next(), stream.next()]
        assert stream.next().event == "end"
    everything = [whole, *seen, *missed, *rest]
    ids = [_seq(e) for e in everything]
    assert ids == sorted(set(ids))
    steps = [json.loads(e.data)["run_steps"][0] for e in [*missed, *rest] if e.event == "step"]
    assert [(s["name"], s["status"]) for s in steps] == [
        ("gen", "Succeeded"),
        ("double", "Running"),
        ("double", "Failed"),
        ("total", "Omitted"),
    ]
    assert json.loads(rest[-1].data)["status"] == "Failed"


@pytest.mark.parametrize("last_event_id", ["9" * 5000, "-1", "1.5", "1-RSSP", "not-an-id"])
def test_an_event_id_that_is_not_ours_is_refused(api: Api, last_event_id: str) -> None:
    pipeline = make_pipeline(api)
    run = api.post(f"/pipelines/{pipeline['id']}/runs/", json={}).json()
    path = f"/pipelines/{pipeline['id']}/runs/{run['id']}/events/"
    r = api.get(path, headers={"Last-Event-ID": last_event_id})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["header", "Last-Event-ID"]
