"""The typed client against a real server: every endpoint, paging, errors, retries, events."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import headrace
from headrace.client import Client, HeadraceApiError, Retry, ServerUnreachable
from headrace.client.sse import apply
from tests.factories import generated_steps, make_step
from tests.live import Served, free_port


@pytest.fixture
def hr(served: Served) -> Client:
    return Client(served.url, served.new_org_key())


def test_pipelines_versions_and_paging(hr: Client) -> None:
    made = [hr.create_pipeline(f"p{i}", generated_steps(), description="d") for i in range(3)]
    assert {p.name for p in hr.list_pipelines(page_size=1)} == {"p0", "p1", "p2"}
    assert hr.find_pipeline("p1").id == made[1].id
    assert hr.find_pipeline(str(made[2].id)).name == "p2"
    assert hr.update_pipeline(made[0].id, description="new").description == "new"
    version = hr.create_version(made[0].id, generated_steps()[:1])
    assert version.number == 2
    assert [v.number for v in hr.list_versions(made[0].id, page_size=1)] == [2, 1]
    assert hr.get_version(made[0].id, version.id).steps[0].name == "gen"
    hr.delete_pipeline(made[0].id)
    with pytest.raises(HeadraceApiError) as err:
        hr.get_pipeline(made[0].id)
    assert (err.value.status, err.value.code) == (404, "not_found")
    with pytest.raises(HeadraceApiError) as missing:
        hr.find_pipeline("nope")
    assert missing.value.status == 404


def test_runs_wait_events_logs_cancel_retry(hr: Client) -> None:
    pipeline = hr.create_pipeline("r", generated_steps())
    run = hr.start_run(pipeline.id)
    state = run.model_dump(mode="json")
    events = list(hr.events(pipeline.id, run.id))
    assert events[-1].event == "end"
    for event in events[:-1]:
        state = apply(state, event.data)
    done = hr.wait(run, timeout=60)
    assert done.status == state["status"] == "Succeeded"
    assert "started" in hr.step_logs(pipeline.id, run.id, "gen")
    partial = hr.wait(hr.start_run(pipeline.id, start="total"), timeout=60)
    assert [s.name for s in partial.run_steps] == ["total"]
    assert [r.id for r in hr.list_runs(pipeline.id, page_size=1)] == [partial.id, run.id]
    assert [r.id for r in hr.list_runs(pipeline.id, status=["Succeeded"])][-1] == run.id
    assert hr.get_run(pipeline.id, run.id).id == run.id
    with pytest.raises(HeadraceApiError) as ended:
        hr.cancel_run(pipeline.id, run.id)
    assert (ended.value.status, ended.value.code) == (409, "conflict")
    failing = hr.create_pipeline("f", [make_step("bad", "SELECT 'x'::INTEGER AS n")])
    failed = hr.wait(hr.start_run(failing.id), timeout=60)
    assert failed.status == "Failed"
    assert hr.wait(hr.retry_run(failing.id, failed.id), timeout=60).retry_of == failed.id
    waiting = hr.start_run(hr.create_pipeline("w", generated_steps()).id)
    with pytest.raises(TimeoutError):
        hr.wait(waiting, timeout=0)


def test_datasets_and_keys(hr: Client, served: Served, tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("id,v\n1,a\n2,b\n")
    assert hr.health() == {"status": "ok", "version": headrace.__version__}
    uploaded = hr.upload_dataset(csv, "t")
    assert uploaded.row_count == 2
    merged = hr.upsert_rows("t", "id", [{"id": 2, "v": "B"}, {"id": 3, "v": "c"}])
    assert merged.row_count == 3
    assert [d.name for d in hr.list_datasets()] == ["t"]
    assert hr.find_dataset("t").id == uploaded.id
    assert len(hr.get_dataset(uploaded.id).versions) == 2
    assert hr.dataset_rows(uploaded.id, version=uploaded.current_version) == [
        {"id": 1, "v": "a"},
        {"id": 2, "v": "b"},
    ]
    target = hr.download_dataset(uploaded.id, tmp_path / "t.out.csv", format="csv")
    assert target.read_text().splitlines()[0] == "id,v"
    hr.delete_dataset(uploaded.id)
    assert list(hr.list_datasets()) == []
    key = hr.create_key("viewer", "viewer")
    assert key.id in {k.id for k in hr.list_keys(page_size=1)}
    hr.revoke_key(key.id)
    with pytest.raises(HeadraceApiError) as revoked:
        next(Client(served.url, key.api_key).list_pipelines())
    assert (revoked.value.status, revoked.value.code) == (401, "unauthorized")


def test_invalid_input_carries_every_problem(hr: Client) -> None:
    steps = [make_step("a", "SELECT * FROM nowhere"), make_step("a", "SELECT 1 AS x")]
    with pytest.raises(HeadraceApiError) as err:
        hr.create_pipeline("bad", steps)
    assert (err.value.status, err.value.code) == (422, "invalid_input")
    locs = [tuple(e.loc) for e in err.value.errors]
    assert ("steps", "a", "name") in locs and ("steps", "a", "config", "query") in locs


def _mock(answers: list[int | Exception], seen: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        body = {"detail": "nope", "code": "x", "errors": []} if answer >= 400 else []
        return httpx.Response(answer, json=body)

    return httpx.MockTransport(handle)


def test_retries_on_unavailable_and_connection_errors_never_on_4xx() -> None:
    fast = Retry(attempts=3, backoff=0)
    seen: list[str] = []
    answers: list[int | Exception] = [503, httpx.ConnectError("refused"), 200]
    client = Client("http://x", "k", retry=fast, transport=_mock(answers, seen))
    assert list(client.list_keys()) == []
    assert seen == ["GET"] * 3
    seen.clear()
    client = Client("http://x", "k", retry=fast, transport=_mock([404], seen))
    with pytest.raises(HeadraceApiError):
        client.get_pipeline("p")
    assert seen == ["GET"]
    seen.clear()
    client = Client("http://x", "k", retry=fast, transport=_mock([502, 502, 502], seen))
    with pytest.raises(HeadraceApiError) as bad_gateway:
        client.start_run("p")  # may have been handled: sent again under its Idempotency-Key
    assert (seen, bad_gateway.value.status) == (["POST"] * 3, 502)


def test_a_post_whose_first_send_is_still_in_flight_is_sent_again() -> None:
    loc = ["header", "Idempotency-Key"]
    busy = {"loc": loc, "msg": "in flight", "type": "idempotency_key.busy"}
    answers = [
        httpx.Response(409, json={"detail": "busy", "code": "conflict", "errors": [busy]}),
        httpx.Response(201, json={"id": "r"}),
        httpx.Response(409, json={"detail": "ended", "code": "conflict", "errors": []}),
    ]
    keys: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers.get("Idempotency-Key"))
        return answers.pop(0)

    client = Client("http://x", "k", retry=Retry(backoff=0), transport=httpx.MockTransport(handle))
    assert client._http.request("POST", "/pipelines/p/runs/", json={}).json() == {"id": "r"}
    assert len(keys) == 2 and keys[0] == keys[1]
    with pytest.raises(HeadraceApiError) as conflict:  # any other 409 is the answer
        client._http.request("POST", "/pipelines/p/runs/r/cancel/")
    assert conflict.value.detail == "ended" and len(keys) == 3


class _DropsFirstAnswer(httpx.HTTPTransport):
    """The server handles the first POST, and its answer is lost on the way back."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method != "POST":
            return response
        self.keys.append(request.headers.get("Idempotency-Key"))
        if len(self.keys) == 1:
            response.read()
            response.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


def test_a_post_whose_answer_was_lost_is_retried_and_starts_one_run(served: Served) -> None:
    key = served.new_org_key()
    pipeline = Client(served.url, key).create_pipeline("once", generated_steps())
    transport = _DropsFirstAnswer()
    client = Client(served.url, key, retry=Retry(attempts=3, backoff=0), transport=transport)
    run = client.start_run(pipeline.id)
    assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1] is not None
    assert [r.id for r in client.list_runs(pipeline.id)] == [run.id]
    other = client.start_run(pipeline.id)  # each call is a request of its own
    assert other.id != run.id and transport.keys[2] != transport.keys[0]


def test_an_unreachable_server_raises_after_the_retries() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", "k", retry=Retry(attempts=2, backoff=0))
    with pytest.raises(ServerUnreachable):
        client.health()


def test_every_problem_is_said_once_with_its_location(served: Served) -> None:
    """``str(err)`` of a real server's 4xx states each of its problems once, located."""
    key = served.new_org_key()
    http = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {key}"})
    steps = [make_step("a", "SELECT * FROM nowhere"), make_step("a", "SELECT 1 AS x")]
    answers = [
        http.post("/pipelines/", json={"name": "bad", "steps": steps}),  # our validation
        http.post("/pipelines/", json={"name": 5, "steps": "x"}),  # FastAPI's
        http.post("/datasets/", data={"name": "e"}, files={"file": ("e.csv", b"", "text/csv")}),
        http.post("/datasets/", data={"name": "e"}),  # a field missing
        http.get("/pipelines/", params={"cursor": "nope"}),
    ]
    for r in answers:
        assert r.status_code == 422, r.text
        body = r.json()
        text = str(HeadraceApiError.of(r))
        assert body["errors"] and text.endswith(f" (422 {body['code']})"), text
        for e in body["errors"]:
            located = f"{'.'.join(str(x) for x in e['loc'] if x != 'body')}: {e['msg']}"
            assert located in text, (located, text)
            assert text.count(e["msg"]) == sum(x["msg"] == e["msg"] for x in body["errors"]), text
    many = str(HeadraceApiError.of(answers[0]))
    assert many.startswith("the pipeline has 2 problem(s): "), many
