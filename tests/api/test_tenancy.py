"""Tenant isolation: every endpoint, called with another organisation's ids, answers 404.

The endpoints come from ``app.routes``, so a new endpoint cannot be forgotten: the test fails
for any route it does not know how to exercise until it is added to one of the tables below.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from headrace.persistence.db import Database
from tests.factories import Api, app_routes, generated_steps, make_org, make_pipeline, make_run


@dataclass
class Objects:
    """The ids of one organisation's objects, one of each kind."""

    pipeline_id: str
    version_id: str
    run_id: str
    key_id: str
    dataset_id: str
    dataset_name: str
    step_name: str = "gen"

    def params(self) -> dict[str, str]:
        return {
            "pipeline_id": self.pipeline_id,
            "version_id": self.version_id,
            "run_id": self.run_id,
            "key_id": self.key_id,
            "dataset_id": self.dataset_id,
            "step_name": self.step_name,
        }

    def ids(self) -> list[str]:
        return [self.pipeline_id, self.version_id, self.run_id, self.key_id, self.dataset_id]


def _objects(api: Api) -> Objects:
    pipeline = make_pipeline(api)
    run = make_run(api, pipeline["id"])
    key = api.post("/api-keys/", json={"name": "spare", "role": "viewer"}).json()
    name = f"ds_{pipeline['id'][:8]}"
    body = {"dataset_name": name, "row_unique_identifier": "id", "data": [{"id": 1, "v": "b"}]}
    dataset = api.put("/datasets/upsert/", json=body)
    assert dataset.status_code == 200, dataset.text
    return Objects(
        pipeline_id=pipeline["id"],
        version_id=pipeline["current_version"]["id"],
        run_id=run["id"],
        key_id=key["id"],
        dataset_id=dataset.json()["id"],
        dataset_name=name,
    )


# Routes that name objects by id: any other organisation's id must be a 404. The value is the
# request body (or None) that would otherwise be valid.
SCOPED: dict[tuple[str, str], Any] = {
    ("DELETE", "/api-keys/{key_id}/"): None,
    ("GET", "/pipelines/{pipeline_id}/"): None,
    ("PATCH", "/pipelines/{pipeline_id}/"): {"description": "taken over"},
    ("DELETE", "/pipelines/{pipeline_id}/"): None,
    ("POST", "/pipelines/{pipeline_id}/versions/"): {"steps": generated_steps()},
    ("GET", "/pipelines/{pipeline_id}/versions/"): None,
    ("GET", "/pipelines/{pipeline_id}/versions/{version_id}/"): None,
    ("POST", "/pipelines/{pipeline_id}/runs/"): {},
    ("GET", "/pipelines/{pipeline_id}/runs/"): None,
    ("GET", "/pipelines/{pipeline_id}/runs/{run_id}/"): None,
    ("POST", "/pipelines/{pipeline_id}/runs/{run_id}/cancel/"): None,
    ("POST", "/pipelines/{pipeline_id}/runs/{run_id}/retry/"): None,
    ("GET", "/pipelines/{pipeline_id}/runs/{run_id}/steps/{step_name}/logs/"): None,
    ("GET", "/pipelines/{pipeline_id}/runs/{run_id}/events/"): None,
    ("GET", "/datasets/{dataset_id}/"): None,
    ("GET", "/datasets/{dataset_id}/rows/"): None,
    ("GET", "/datasets/{dataset_id}/download/"): None,
    ("DELETE", "/datasets/{dataset_id}/"): None,
}


def _list_excludes(path: str) -> Callable[[Api, Objects], httpx.Response]:
    def call(api: Api, theirs: Objects) -> httpx.Response:
        r = api.get(path, params={"limit": 1000})
        assert r.status_code == 200, r.text
        return r

    return call


def _create_pipeline_named_like_theirs(api: Api, theirs: Objects) -> httpx.Response:
    r = api.post("/pipelines/", json={"name": "shared-name", "steps": generated_steps()})
    assert r.status_code == 201, r.text
    return r


def _create_key(api: Api, theirs: Objects) -> httpx.Response:
    r = api.post("/api-keys/", json={"name": "mine", "role": "viewer"})
    assert r.status_code == 201, r.text
    return r


def _upsert_into_their_name(api: Api, theirs: Objects) -> httpx.Response:
    body = {
        "dataset_name": theirs.dataset_name,
        "row_unique_identifier": "id",
        "data": [{"id": 1, "v": "a"}],
    }
    r = api.put("/datasets/upsert/", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["id"] != theirs.dataset_id
    return r


def _upload_into_their_name(api: Api, theirs: Objects) -> httpx.Response:
    files = {"file": ("rows.csv", b"id,v\n1,a\n", "text/csv")}
    r = api.post("/datasets/", data={"name": theirs.dataset_name}, files=files)
    assert r.status_code == 201, r.text
    assert r.json()["id"] != theirs.dataset_id
    return r


def _public(path: str) -> Callable[[Api, Objects], httpx.Response]:
    def call(api: Api, theirs: Objects) -> httpx.Response:
        r = api.client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        return r

    return call


# Routes without ids: each is exercised by the caller; no response may show the other
# organisation's ids.
UNSCOPED: dict[tuple[str, str], Callable[[Api, Objects], httpx.Response]] = {
    ("GET", "/pipelines/"): _list_excludes("/pipelines/"),
    ("GET", "/api-keys/"): _list_excludes("/api-keys/"),
    ("GET", "/datasets/"): _list_excludes("/datasets/"),
    ("POST", "/pipelines/"): _create_pipeline_named_like_theirs,
    ("POST", "/api-keys/"): _create_key,
    ("PUT", "/datasets/upsert/"): _upsert_into_their_name,
    ("POST", "/datasets/"): _upload_into_their_name,
    ("GET", "/healthz"): _public("/healthz"),
    ("GET", "/metrics"): _public("/metrics"),
    ("GET", "/openapi.json"): _public("/openapi.json"),
    ("GET", "/docs"): _public("/docs"),
    ("GET", "/docs/oauth2-redirect"): _public("/docs/oauth2-redirect"),
    ("GET", "/redoc"): _public("/redoc"),
    # the web UI: static files, the same for everyone, holding no data
    ("GET", "/"): _public("/"),
    ("GET", "/ui"): _public("/ui"),
    ("GET", "/ui/{relative:path}"): _public("/ui/index.html"),
}


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route, a hidden no-slash twin folded into its documented path."""
    found: set[tuple[str, str]] = set()
    for method, path in app_routes(client.app):
        known = (method, path) in SCOPED or (method, path) in UNSCOPED
        if not known and ((method, path + "/") in SCOPED or (method, path + "/") in UNSCOPED):
            path += "/"
        found.add((method, path))
    return sorted(found)


def test_every_route_is_known(client: TestClient) -> None:
    routes = _routes(client)
    unknown = [r for r in routes if r not in SCOPED and r not in UNSCOPED]
    assert unknown == [], "add these routes to SCOPED or UNSCOPED in this test"
    stale = [r for r in [*SCOPED, *UNSCOPED] if r not in routes]
    assert stale == [], "these routes are gone: remove them from this test"


def _fill(path: str, params: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], path)


def test_other_organisations_objects_are_404(api: Api, client: TestClient, db: Database) -> None:
    theirs_api = make_org(client, db)
    theirs = _objects(theirs_api)
    mine = _objects(api)
    before = {
        path: theirs_api.get(path).json()
        for path in (
            f"/pipelines/{theirs.pipeline_id}/",
            f"/pipelines/{theirs.pipeline_id}/runs/",
            f"/pipelines/{theirs.pipeline_id}/versions/",
            f"/datasets/{theirs.dataset_id}/",
            "/api-keys/",
        )
    }
    for method, path in _routes(client):
        if (method, path) in UNSCOPED:
            r = UNSCOPED[method, path](api, theirs)
            for ident in theirs.ids():
                assert ident not in r.text, (method, path)
            continue
        body = SCOPED[method, path]
        variants = {"all theirs": theirs.params()}
        if "{pipeline_id}" in path and path.count("{") > 1:
            # my own pipeline with their run or version: still not theirs to see
            variants["mine and theirs"] = {**theirs.params(), "pipeline_id": mine.pipeline_id}
        for variant, params in variants.items():
            url = _fill(path, params)
            for candidate in (url, url.rstrip("/")):
                r = api.request(method, candidate, json=body)
                assert r.status_code == 404, (variant, method, candidate, r.status_code, r.text)
                assert r.json()["code"] == "not_found"
                for ident in theirs.ids():  # a 404 may echo the id it was asked for
                    assert ident in candidate or ident not in r.text, (method, candidate)
    # nothing of theirs changed
    after = {path: theirs_api.get(path).json() for path in before}
    assert after == before


def test_viewer_of_one_org_sees_nothing_of_another(
    api: Api, client: TestClient, db: Database
) -> None:
    theirs_api = make_org(client, db)
    theirs = make_pipeline(theirs_api, name="same-name")
    mine = make_pipeline(api, name="same-name")
    viewer = api.with_role("viewer")
    assert [p["id"] for p in viewer.get("/pipelines/").json()] == [mine["id"]]
    assert viewer.get(f"/pipelines/{theirs['id']}/").status_code == 404
