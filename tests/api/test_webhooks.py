"""/webhooks/: the secret shown once and stored encrypted, private URLs refused, every
problem at once, deletion, the deliveries log, other organisations kept out."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from headrace.api.app import create_app
from headrace.persistence.db import Database
from headrace.persistence.tables import webhooks
from headrace.runtime import Runtime
from headrace.services.secret_box import SecretBox
from headrace.settings import Settings
from tests.factories import TEST_SECRET_KEY, Api, make_org

# A public address: webhooks made here are never delivered (no dispatcher runs in these
# tests), so nothing is ever sent to it.
PUBLIC_URL = "https://1.1.1.1/hooks/headrace"


def create(api: Api, url: str = PUBLIC_URL, events: list[str] | None = None) -> dict[str, str]:
    body = {"url": url, "events": events or ["run.succeeded", "run.failed"]}
    r = api.post("/webhooks/", json=body)
    assert r.status_code == 201, r.text
    assert r.headers["Cache-Control"] == "no-store"
    created: dict[str, str] = r.json()
    assert r.headers["Location"] == f"/webhooks/{created['id']}/"
    return created


def test_the_secret_is_shown_once_and_stored_encrypted_with_the_server_key(
    api: Api, db: Database
) -> None:
    created = create(api, events=["run.started", "dataset.version"])
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["run.started", "dataset.version"]
    listed = api.get("/webhooks/").json()
    assert [h["id"] for h in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert created["secret"] not in api.get("/webhooks/").text
    with db.unit_of_work(write=False) as conn:
        row = conn.execute(select(webhooks).where(webhooks.c.id == uuid.UUID(created["id"]))).one()
    assert all(created["secret"] not in str(v) for v in row._mapping.values())
    assert SecretBox(TEST_SECRET_KEY).open(row.secret) == created["secret"]
    with pytest.raises(Exception, match="HEADRACE_SECRET_KEY"):
        SecretBox("another-server-key-" + "x" * 32).open(row.secret)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_urls_that_resolve_to_non_public_addresses_are_422(api: Api, url: str) -> None:
    r = api.post("/webhooks/", json={"url": url, "events": ["run.failed"]})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_input"
    assert body["errors"][0]["loc"] == ["body", "url"]
    assert "not a public address" in body["errors"][0]["msg"]
    assert api.get("/webhooks/").json() == []


def test_every_problem_is_listed_at_once(api: Api) -> None:
    r = api.post("/webhooks/", json={"url": "ftp://example/x", "events": []})
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert [e["loc"] for e in errors] == [["body", "url"], ["body", "events"]]
    assert "http:// or https://" in errors[0]["msg"]
    unknown = api.post("/webhooks/", json={"url": PUBLIC_URL, "events": ["run.exploded"]})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["body", "events", 0]
    for url in ("https://user:pw@1.1.1.1/", "https://no-such-host.invalid/", "not a url"):
        refused = api.post("/webhooks/", json={"url": url, "events": ["run.failed"]})
        assert refused.status_code == 422, (url, refused.text)


def test_private_urls_are_accepted_when_the_server_allows_them(
    settings: Settings, runtime: Runtime, db: Database
) -> None:
    allowing = settings.model_copy(update={"webhook_allow_private": True})
    with TestClient(create_app(allowing, runtime)) as client:
        api = make_org(client, db)
        created = create(api, url="http://127.0.0.1:9/hook")
        assert created["url"] == "http://127.0.0.1:9/hook"


def test_without_a_server_key_webhooks_cannot_be_created(
    settings: Settings, runtime: Runtime, db: Database
) -> None:
    keyless = settings.model_copy(update={"secret_key": None})
    with TestClient(create_app(keyless, runtime)) as client:
        api = make_org(client, db)
        r = api.post("/webhooks/", json={"url": PUBLIC_URL, "events": ["run.failed"]})
    assert r.status_code == 503
    assert r.json()["code"] == "unavailable"
    assert "HEADRACE_SECRET_KEY" in r.json()["detail"]


def test_a_short_server_key_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="secret_key"):
        Settings(secret_key=SecretStr("short"))


def test_delete_and_deliveries_stay_within_the_organisation(
    api: Api, client: TestClient, db: Database
) -> None:
    created = create(api)
    hook = f"/webhooks/{created['id']}/"
    read = api.get(hook).json()
    assert read == {k: v for k, v in created.items() if k != "secret"}
    other = make_org(client, db)
    assert other.get(hook).status_code == 404
    assert api.get(f"{hook}deliveries/").json() == []
    assert other.get(f"{hook}deliveries/").status_code == 404
    assert other.delete(hook).status_code == 404
    assert api.with_role("builder").get("/webhooks/").status_code == 403
    assert api.delete(hook).status_code == 204
    assert api.delete(hook).status_code == 404
    assert api.get(f"{hook}deliveries/").status_code == 404
    assert api.get("/webhooks/").json() == []
