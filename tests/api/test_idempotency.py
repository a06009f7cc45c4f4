"""Idempotency-Key on every POST: a repeat replays the first answer and creates nothing."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from headrace.persistence.db import Database
from headrace.persistence.tables import idempotency_keys
from tests.factories import Api, app_routes, generated_steps, make_org, make_pipeline


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def _runs(api: Api, pipeline_id: str) -> list[dict[str, Any]]:
    r = api.get(f"/pipelines/{pipeline_id}/runs/")
    assert r.status_code == 200, r.text
    runs: list[dict[str, Any]] = r.json()
    return runs


def test_a_retried_trigger_replays_the_first_answer_and_starts_one_run(api: Api) -> None:
    pid = make_pipeline(api)["id"]
    key = _key()
    first = api.post(f"/pipelines/{pid}/runs/", json={}, headers=key)
    again = api.post(f"/pipelines/{pid}/runs", json={}, headers=key)  # the slash does not count
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert [run["id"] for run in _runs(api, pid)] == [first.json()["id"]]
    other = api.post(f"/pipelines/{pid}/runs/", json={}, headers=_key())
    assert other.json()["id"] != first.json()["id"]
    unkeyed = api.post(f"/pipelines/{pid}/runs/", json={})
    assert unkeyed.json()["id"] not in (first.json()["id"], other.json()["id"])


def test_concurrent_duplicates_start_one_run(api: Api) -> None:
    pid = make_pipeline(api)["id"]
    key = _key()
    answers: list[httpx.Response] = []
    gate = threading.Barrier(6)

    def trigger() -> None:
        gate.wait()
        answers.append(api.post(f"/pipelines/{pid}/runs/", json={}, headers=key))

    threads = [threading.Thread(target=trigger) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = {r.json()["id"] for r in answers if r.status_code == 201}
    busy = [r for r in answers if r.status_code == 409]
    assert len(created) == 1 and len(busy) + sum(r.status_code == 201 for r in answers) == 6
    for r in busy:
        assert r.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert [run["id"] for run in _runs(api, pid)] == list(created)
    replay = api.post(f"/pipelines/{pid}/runs/", json={}, headers=key)
    assert replay.status_code == 201 and replay.json()["id"] in created


def test_the_same_key_for_another_request_is_refused(api: Api) -> None:
    pid = make_pipeline(api)["id"]
    key = _key()
    assert api.post(f"/pipelines/{pid}/runs/", json={}, headers=key).status_code == 201
    for method_path, body in (
        (f"/pipelines/{pid}/runs/", {"end_job_name": "gen"}),
        ("/pipelines/", {"name": "other", "steps": generated_steps()}),
    ):
        r = api.post(method_path, json=body, headers=key)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"] == [
            {
                "loc": ["header", "Idempotency-Key"],
                "msg": "used for another request",
                "type": "idempotency_key.reused",
            }
        ]
    assert len(_runs(api, pid)) == 1
    assert [p["name"] for p in api.get("/pipelines/").json()].count("other") == 0


def test_an_error_keeps_nothing_and_the_key_serves_the_corrected_request(api: Api) -> None:
    key = _key()
    bad = api.post("/pipelines/", json={"name": "fixed", "steps": []}, headers=key)
    assert bad.status_code == 422
    good = api.post("/pipelines/", json={"name": "fixed", "steps": generated_steps()}, headers=key)
    assert good.status_code == 201, good.text
    again = api.post("/pipelines/", json={"name": "fixed", "steps": generated_steps()}, headers=key)
    assert again.status_code == 201 and again.json()["id"] == good.json()["id"]


def test_keys_belong_to_one_organisation_and_one_api_key(
    api: Api, client: TestClient, db: Database
) -> None:
    key = _key()
    body = {"name": "shared-key", "steps": generated_steps()}
    mine = api.post("/pipelines/", json=body, headers=key)
    other_org = make_org(client, db)
    theirs = other_org.post("/pipelines/", json=body, headers=key)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    colleague = api.with_role("builder")
    r = colleague.post("/pipelines/", json=body, headers=key)
    assert r.status_code == 422
    assert r.json()["errors"][0]["msg"] == "used by another API key"


def test_a_replayed_key_secret_is_not_kept_readable(api: Api, db: Database) -> None:
    key = _key()
    first = api.post("/api-keys/", json={"name": "once", "role": "viewer"}, headers=key)
    again = api.post("/api-keys/", json={"name": "once", "role": "viewer"}, headers=key)
    assert first.status_code == again.status_code == 201
    secret = first.json()["api_key"]
    assert again.json()["api_key"] == secret
    assert again.headers["Cache-Control"] == "no-store"
    assert [k["name"] for k in api.get("/api-keys/").json()].count("once") == 1
    with db.unit_of_work(write=False) as conn:
        stored = conn.execute(
            select(idempotency_keys.c.response).where(
                idempotency_keys.c.key == key["Idempotency-Key"]
            )
        ).scalar_one()
    assert secret.encode() not in stored and b"once" not in stored


def test_an_upload_repeated_with_a_new_multipart_boundary_is_the_same_request(api: Api) -> None:
    key = _key()
    answers = []
    for boundary in ("first-boundary", "another-boundary-entirely"):
        body = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="name"\r\n\r\nrepeated\r\n'
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="rows.csv"\r\n'
            "Content-Type: text/csv\r\n\r\nid\n1\n\r\n"
            f"--{boundary}--\r\n"
        ).encode()
        content_type = f"multipart/form-data; boundary={boundary}"
        answers.append(
            api.post("/datasets/", content=body, headers={**key, "Content-Type": content_type})
        )
    assert [r.status_code for r in answers] == [201, 201], answers[1].text
    assert answers[1].json() == answers[0].json()
    dataset = api.get(answers[0].headers["Location"]).json()
    assert len(dataset["versions"]) == 1


def test_a_malformed_key_is_refused_before_anything_is_created(api: Api) -> None:
    for bad in (b"", b"x" * 256, "naïve".encode(), b"two words"):
        r = api.post(
            "/pipelines/",
            json={"name": "never", "steps": generated_steps()},
            headers={"Idempotency-Key": bad},  # type: ignore[dict-item]
        )
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert [p["name"] for p in api.get("/pipelines/").json()].count("never") == 0


def test_every_post_documents_the_header_and_its_409(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    posts = {path for method, path in app_routes(client.app) if method == "POST"}
    assert len(posts) >= 6
    for path, item in document["paths"].items():
        operation = item.get("post")
        if operation is None:
            continue
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        assert "Idempotency-Key" in names, path
        assert "409" in operation["responses"], path


def test_the_fingerprint_ignores_chunking_and_the_multipart_boundary() -> None:
    from starlette.datastructures import Headers

    from headrace.api.idempotency import Fingerprint

    def digest(boundary: str, body: bytes, cut: int) -> str:
        scope = {"method": "POST", "path": "/datasets/", "query_string": b""}
        headers = Headers({"content-type": f'multipart/form-data; boundary="{boundary}"'})
        fingerprint = Fingerprint(scope, headers)
        for start in range(0, len(body), cut):
            fingerprint.update(body[start : start + cut])
        return fingerprint.hexdigest()

    def form(boundary: str, value: str) -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{value}\r\n'
            f"--{boundary}--\r\n"
        ).encode()

    same = {
        digest(b, form(b, "rows"), cut)
        for b in ("short", "a-much-longer-boundary-0123456789")
        for cut in (1, 2, 7, 4096)
    }
    assert len(same) == 1
    assert digest("short", form("short", "other rows"), 3) not in same
