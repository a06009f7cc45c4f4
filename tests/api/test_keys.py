"""API keys and authentication: create/list/revoke, hashing, both headers, org header, roles."""

from __future__ import annotations

import hashlib
import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from headrace.api.app import create_app
from headrace.persistence.db import Database
from headrace.persistence.tables import api_keys
from headrace.services import keys
from headrace.settings import Settings
from tests.factories import Api, generated_steps, make_org, make_pipeline


def test_create_key_shows_the_secret_once(api: Api) -> None:
    r = api.post("/api-keys/", json={"name": "ci", "role": "builder"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) == {"id", "name", "key_prefix", "role", "created_at", "api_key"}
    assert created["role"] == "builder"
    assert created["name"] == "ci"
    assert created["api_key"].startswith(created["key_prefix"])
    listed = api.get("/api-keys/")
    assert listed.status_code == 200
    mine = [k for k in listed.json() if k["id"] == created["id"]]
    assert len(mine) == 1
    assert "api_key" not in mine[0]
    assert created["api_key"] not in listed.text


def test_key_is_stored_only_as_a_hash(api: Api, db: Database) -> None:
    created = api.post("/api-keys/", json={"name": "h", "role": "viewer"}).json()
    secret = created["api_key"]
    with db.unit_of_work(write=False) as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == uuid.UUID(created["id"]))).one()
    stored = [str(v) for v in row._mapping.values()]
    assert all(secret not in value for value in stored)
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert len(row.key_prefix) < len(secret)


def test_each_role_can_be_issued_and_used(api: Api) -> None:
    for role in ("viewer", "builder", "admin"):
        other = api.with_role(role)
        assert api.get("/api-keys/").json()[-1]["role"] == role
        assert other.get("/pipelines/").status_code == 200


def test_unknown_role_is_422(api: Api) -> None:
    r = api.post("/api-keys/", json={"name": "x", "role": "owner"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "role"]


def test_revoked_key_fails_at_once(api: Api) -> None:
    builder = api.with_role("builder")
    assert builder.get("/pipelines/").status_code == 200
    key_id = next(k["id"] for k in api.get("/api-keys/").json() if k["role"] == "builder")
    r = api.delete(f"/api-keys/{key_id}/")
    assert r.status_code == 204
    after = builder.get("/pipelines/")
    assert after.status_code == 401
    assert after.headers["WWW-Authenticate"] == "Bearer"
    assert key_id not in [k["id"] for k in api.get("/api-keys/").json()]
    assert api.delete(f"/api-keys/{key_id}/").status_code == 404


def test_a_key_revoked_elsewhere_stops_working_here_at_the_next_revocation_check(
    api: Api, settings: Settings, db: Database
) -> None:
    """Apps on one store stand for a server's API processes: each keeps the keys it has
    looked up, the one that revoked forgets at once, and the others at their next look for
    revocations (every REVOCATION_CHECK_SECONDS, on this app's clock here)."""
    builder = api.with_role("builder")
    key_id = next(k["id"] for k in api.get("/api-keys/").json() if k["role"] == "builder")
    now = [0.0]
    keeping = create_app(settings.model_copy(update={"key_cache_seconds": 3600}))
    keeping.state.key_cache = keys.KeyCache(3600, clock=lambda: now[0])
    looking_up = create_app(settings.model_copy(update={"key_cache_seconds": 0}))
    with TestClient(keeping) as kept, TestClient(looking_up) as fresh:
        assert kept.get("/pipelines/", headers=builder.headers()).status_code == 200
        assert fresh.get("/pipelines/", headers=builder.headers()).status_code == 200
        assert builder.get("/pipelines/").status_code == 200  # kept by this app too
        assert api.delete(f"/api-keys/{key_id}/").status_code == 204
        assert builder.get("/pipelines/").status_code == 401
        assert fresh.get("/pipelines/", headers=builder.headers()).status_code == 401
        assert kept.get("/pipelines/", headers=builder.headers()).status_code == 200
        # what is kept is the key's record: the organisation header is still checked
        wrong_org = builder.headers({"Current-Org-Id": str(uuid.uuid4())})
        assert kept.get("/pipelines/", headers=wrong_org).status_code == 403
        now[0] += keys.REVOCATION_CHECK_SECONDS
        assert kept.get("/pipelines/", headers=builder.headers()).status_code == 401
        assert kept.get("/pipelines/", headers=api.headers()).status_code == 200


def test_revoking_an_unknown_key_is_404(api: Api) -> None:
    assert api.delete(f"/api-keys/{uuid.uuid4()}/").status_code == 404


def test_bearer_and_api_key_headers_both_work(api: Api) -> None:
    client = api.client
    assert client.get("/pipelines/", headers={"Authorization": f"Bearer {api.key}"}).is_success
    assert client.get("/pipelines/", headers={"Api-key": api.key}).is_success
    assert client.get("/pipelines/", headers={"api-key": api.key}).is_success
    assert client.get("/pipelines/", headers={"authorization": f"bearer {api.key}"}).is_success


def test_missing_or_wrong_key_is_401_with_challenge(client: TestClient) -> None:
    for headers in [
        {},
        {"Authorization": "Bearer hr_not-a-real-key"},
        {"Api-key": "hr_not-a-real-key"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Api-key": ""},
    ]:
        r = client.get("/pipelines/", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["WWW-Authenticate"] == "Bearer"
        body = r.json()
        assert body["code"] == "unauthorized"
        assert set(body) == {"type", "title", "status", "detail", "code", "errors"}


def test_current_org_id_must_match(api: Api, client: TestClient, db: Database) -> None:
    other = make_org(client, db)
    ok = api.get("/pipelines/", headers={"Current-Org-Id": api.org_id})
    assert ok.status_code == 200
    upper = api.get("/pipelines/", headers={"Current-Org-Id": api.org_id.upper()})
    assert upper.status_code == 200
    for wrong in (other.org_id, str(uuid.uuid4()), "not-a-uuid"):
        r = api.get("/pipelines/", headers={"Current-Org-Id": wrong})
        assert r.status_code == 403, wrong
        assert r.json()["code"] == "forbidden"


def test_viewer_can_read_but_not_write(api: Api) -> None:
    pipeline = make_pipeline(api)
    pid = pipeline["id"]
    viewer = api.with_role("viewer")
    assert viewer.get("/pipelines/").status_code == 200
    assert viewer.get(f"/pipelines/{pid}/").status_code == 200
    assert viewer.get(f"/pipelines/{pid}/runs/").status_code == 200
    writes = [
        ("POST", "/pipelines/", {"name": "v", "steps": generated_steps()}),
        ("PATCH", f"/pipelines/{pid}/", {"description": "x"}),
        ("DELETE", f"/pipelines/{pid}/", None),
        ("POST", f"/pipelines/{pid}/versions/", {"steps": []}),
        ("POST", f"/pipelines/{pid}/runs/", {}),
        ("POST", "/api-keys/", {"name": "x", "role": "viewer"}),
        ("GET", "/api-keys/", None),
    ]
    for method, url, body in writes:
        r = viewer.request(method, url, json=body)
        assert r.status_code == 403, (method, url, r.text)
        assert r.json()["code"] == "forbidden"
    assert api.get(f"/pipelines/{pid}/").json()["description"] == ""


def test_builder_can_build_but_not_manage_keys(api: Api) -> None:
    builder = api.with_role("builder")
    pipeline = make_pipeline(builder)
    assert builder.post(f"/pipelines/{pipeline['id']}/runs/", json={}).status_code == 201
    key_id = api.get("/api-keys/").json()[0]["id"]
    for method, url, body in [
        ("POST", "/api-keys/", {"name": "x", "role": "admin"}),
        ("GET", "/api-keys/", None),
        ("DELETE", f"/api-keys/{key_id}/", None),
    ]:
        r = builder.request(method, url, json=body)
        assert r.status_code == 403, (method, url)
    assert api.get("/api-keys/").json()[0]["id"] == key_id
