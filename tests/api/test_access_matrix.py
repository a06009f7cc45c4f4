"""Access matrix: every route, called by every kind of caller, answers as its role implies.

The routes come from the app's route table, so a new endpoint cannot be forgotten: the test
fails for any route without a line in ``ACCESS`` (and for a line whose route is gone).

Callers: no key, a malformed Authorization header, an unknown key, a revoked key (401 for
these four), a viewer, a builder and an admin of the organisation that owns the objects in
the URL (403 below the route's role, its success status at or above it), and an admin of
another organisation: 404 wherever the URL names an object, so that ids do not leak, and
success on its own organisation elsewhere, without a trace of the owner's objects.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
from fastapi.testclient import TestClient

from headrace.domain.access import Role
from headrace.persistence.db import Database
from tests.api.org_objects import Objects, make_objects
from tests.factories import Api, app_routes, generated_steps, make_org, make_pipeline, make_run

Route = tuple[str, str]


@dataclass(frozen=True)
class Rule:
    role: Role | None  # the least role that may call the route; None: no key needed
    success: int  # the status of an allowed call

    @property
    def public(self) -> bool:
        return self.role is None


VIEWER, BUILDER, ADMIN = Role.VIEWER, Role.BUILDER, Role.ADMIN
LOGS = "/pipelines/{pipeline_id}/runs/{run_id}/steps/{step_name}/logs/"

ACCESS: dict[Route, Rule] = {
    ("GET", "/healthz"): Rule(None, 200),
    ("GET", "/readyz"): Rule(None, 200),
    ("GET", "/metrics"): Rule(None, 200),  # open unless HEADRACE_METRICS_TOKEN or _REQUIRE_AUTH
    ("GET", "/openapi.json"): Rule(None, 200),
    ("GET", "/docs"): Rule(None, 200),
    ("GET", "/docs/oauth2-redirect"): Rule(None, 200),
    ("GET", "/redoc"): Rule(None, 200),
    ("GET", "/"): Rule(None, 307),  # the web UI: static files holding no data
    ("GET", "/ui"): Rule(None, 307),
    ("GET", "/ui/{relative:path}"): Rule(None, 200),
    ("POST", "/api-keys/"): Rule(ADMIN, 201),
    ("GET", "/api-keys/"): Rule(ADMIN, 200),
    ("DELETE", "/api-keys/{key_id}/"): Rule(ADMIN, 204),
    ("POST", "/pipelines/"): Rule(BUILDER, 201),
    ("GET", "/pipelines/"): Rule(VIEWER, 200),
    ("GET", "/pipelines/{pipeline_id}/"): Rule(VIEWER, 200),
    ("PATCH", "/pipelines/{pipeline_id}/"): Rule(BUILDER, 200),
    ("DELETE", "/pipelines/{pipeline_id}/"): Rule(BUILDER, 204),
    ("POST", "/pipelines/{pipeline_id}/versions/"): Rule(BUILDER, 201),
    ("GET", "/pipelines/{pipeline_id}/versions/"): Rule(VIEWER, 200),
    ("GET", "/pipelines/{pipeline_id}/versions/{version_id}/"): Rule(VIEWER, 200),
    ("GET", "/pipelines/{pipeline_id}/versions/{version_id}/lineage/"): Rule(VIEWER, 200),
    ("GET", "/pipelines/{pipeline_id}/versions/{version_id}/diff/"): Rule(VIEWER, 200),
    ("POST", "/pipelines/{pipeline_id}/versions/diff/"): Rule(VIEWER, 200),
    ("POST", "/pipelines/{pipeline_id}/runs/"): Rule(BUILDER, 201),
    ("POST", "/pipelines/{pipeline_id}/runs/plan/"): Rule(VIEWER, 200),
    ("GET", "/pipelines/{pipeline_id}/runs/"): Rule(VIEWER, 200),
    ("GET", "/pipelines/{pipeline_id}/runs/{run_id}/"): Rule(VIEWER, 200),
    ("POST", "/pipelines/{pipeline_id}/runs/{run_id}/cancel/"): Rule(BUILDER, 200),
    ("POST", "/pipelines/{pipeline_id}/runs/{run_id}/retry/"): Rule(BUILDER, 201),
    ("GET", LOGS): Rule(VIEWER, 200),
    ("GET", "/pipelines/{pipeline_id}/runs/{run_id}/events/"): Rule(VIEWER, 200),
    ("POST", "/pipelines/{pipeline_id}/schedules/"): Rule(BUILDER, 201),
    ("GET", "/pipelines/{pipeline_id}/schedules/"): Rule(VIEWER, 200),
    ("PATCH", "/pipelines/{pipeline_id}/schedules/{schedule_id}/"): Rule(BUILDER, 200),
    ("DELETE", "/pipelines/{pipeline_id}/schedules/{schedule_id}/"): Rule(BUILDER, 204),
    ("POST", "/pipelines/{pipeline_id}/triggers/"): Rule(BUILDER, 201),
    ("GET", "/pipelines/{pipeline_id}/triggers/"): Rule(VIEWER, 200),
    ("DELETE", "/pipelines/{pipeline_id}/triggers/{trigger_id}/"): Rule(BUILDER, 204),
    ("POST", "/datasets/"): Rule(BUILDER, 201),
    ("PUT", "/datasets/upsert/"): Rule(BUILDER, 200),
    ("GET", "/datasets/"): Rule(VIEWER, 200),
    ("GET", "/datasets/{dataset_id}/"): Rule(VIEWER, 200),
    ("GET", "/datasets/{dataset_id}/rows/"): Rule(VIEWER, 200),
    ("GET", "/datasets/{dataset_id}/download/"): Rule(VIEWER, 200),
    ("DELETE", "/datasets/{dataset_id}/"): Rule(BUILDER, 204),
    ("POST", "/webhooks/"): Rule(ADMIN, 201),
    ("GET", "/webhooks/"): Rule(ADMIN, 200),
    ("GET", "/webhooks/{webhook_id}/"): Rule(ADMIN, 200),
    ("DELETE", "/webhooks/{webhook_id}/"): Rule(ADMIN, 204),
    ("GET", "/webhooks/{webhook_id}/deliveries/"): Rule(ADMIN, 200),
}


# What an allowed call of a route needs beyond the owner's objects' ids: a request body, or
# an object of its own (a delete or a cancel succeeds once).
def _key(owner: Api, objects: Objects) -> Objects:
    r = owner.post("/api-keys/", json={"name": "doomed", "role": "viewer"})
    return replace(objects, key_id=r.json()["id"])


def _pipeline(owner: Api, objects: Objects) -> Objects:
    return replace(objects, pipeline_id=make_pipeline(owner)["id"])


def _run(owner: Api, objects: Objects) -> Objects:
    return replace(objects, run_id=make_run(owner, objects.pipeline_id)["id"])


def _schedule(owner: Api, objects: Objects) -> Objects:
    r = owner.post(f"/pipelines/{objects.pipeline_id}/schedules/", json={"cron": "0 0 1 1 *"})
    return replace(objects, schedule_id=r.json()["id"])


def _trigger(owner: Api, objects: Objects) -> Objects:
    body = {"datasets": [objects.dataset_name]}
    r = owner.post(f"/pipelines/{objects.pipeline_id}/triggers/", json=body)
    return replace(objects, trigger_id=r.json()["id"])


def _dataset(owner: Api, objects: Objects) -> Objects:
    name = f"doomed_{uuid.uuid4().hex[:8]}"
    body = {"dataset_name": name, "row_unique_identifier": "id", "data": [{"id": 1}]}
    return replace(objects, dataset_id=owner.put("/datasets/upsert/", json=body).json()["id"])


def _webhook(owner: Api, objects: Objects) -> Objects:
    body = {"url": "https://1.1.1.1/doomed", "events": ["run.failed"]}
    return replace(objects, webhook_id=owner.post("/webhooks/", json=body).json()["id"])


FRESH: dict[Route, Callable[[Api, Objects], Objects]] = {
    ("DELETE", "/api-keys/{key_id}/"): _key,
    ("DELETE", "/pipelines/{pipeline_id}/"): _pipeline,
    ("POST", "/pipelines/{pipeline_id}/runs/{run_id}/cancel/"): _run,
    ("DELETE", "/datasets/{dataset_id}/"): _dataset,
    ("DELETE", "/webhooks/{webhook_id}/"): _webhook,
    ("DELETE", "/pipelines/{pipeline_id}/schedules/{schedule_id}/"): _schedule,
    ("DELETE", "/pipelines/{pipeline_id}/triggers/{trigger_id}/"): _trigger,
}

BODIES: dict[Route, Callable[[Objects], dict[str, Any]]] = {
    ("POST", "/api-keys/"): lambda o: {"json": {"name": "matrix", "role": "viewer"}},
    ("POST", "/pipelines/"): lambda o: {
        "json": {"name": f"p-{uuid.uuid4().hex[:8]}", "steps": generated_steps()}
    },
    ("PATCH", "/pipelines/{pipeline_id}/"): lambda o: {"json": {"description": "patched"}},
    ("POST", "/pipelines/{pipeline_id}/versions/"): lambda o: {
        "json": {"steps": generated_steps()}
    },
    ("POST", "/pipelines/{pipeline_id}/runs/"): lambda o: {"json": {}},
    ("POST", "/pipelines/{pipeline_id}/schedules/"): lambda o: {"json": {"cron": "0 0 1 1 *"}},
    ("POST", "/pipelines/{pipeline_id}/triggers/"): lambda o: {
        "json": {"datasets": [o.dataset_name]}
    },
    ("PATCH", "/pipelines/{pipeline_id}/schedules/{schedule_id}/"): lambda o: {
        "json": {"enabled": False}
    },
    ("POST", "/pipelines/{pipeline_id}/runs/plan/"): lambda o: {"json": {}},
    ("POST", "/pipelines/{pipeline_id}/versions/diff/"): lambda o: {
        "json": {"steps": generated_steps()}
    },
    # the version against itself: the caller's own version id where it names its own
    ("GET", "/pipelines/{pipeline_id}/versions/{version_id}/diff/"): lambda o: {
        "params": {"against": o.version_id}
    },
    # the owner's dataset name: the owner adds a version, another organisation gets its own
    ("POST", "/datasets/"): lambda o: {
        "data": {"name": o.dataset_name},
        "files": {"file": ("rows.csv", b"id,v\n1,a\n", "text/csv")},
    },
    ("POST", "/webhooks/"): lambda o: {
        "json": {"url": "https://1.1.1.1/matrix", "events": ["run.succeeded"]}
    },
    ("PUT", "/datasets/upsert/"): lambda o: {
        "json": {"dataset_name": o.dataset_name, "row_unique_identifier": "id", "data": [{"id": 2}]}
    },
}


def _body(route: Route, objects: Objects) -> dict[str, Any]:
    make = BODIES.get(route)
    return make(objects) if make else {}


def _prepare(route: Route, owner: Api, objects: Objects) -> tuple[Objects, dict[str, Any]]:
    """The objects an allowed call of ``route`` acts on, and its request body."""
    fresh = FRESH.get(route)
    if fresh:
        objects = fresh(owner, objects)
    return objects, _body(route, objects)


def _routes(client: TestClient) -> list[Route]:
    """(method, path) of every route, a hidden no-slash twin folded into its documented path."""
    found = set()
    for method, path in app_routes(client.app):
        if (method, path) not in ACCESS and (method, path + "/") in ACCESS:
            path += "/"
        found.add((method, path))
    return sorted(found)


def test_every_route_has_an_expectation(client: TestClient) -> None:
    routes = _routes(client)
    assert [r for r in routes if r not in ACCESS] == [], "add these routes to ACCESS"
    assert [r for r in ACCESS if r not in routes] == [], "these routes are gone: remove them"
    assert set(FRESH) | set(BODIES) <= set(ACCESS)


@dataclass(frozen=True)
class Caller:
    headers: dict[str, str]
    role: Role | None = None  # None: no valid key
    other_org: bool = False


def _callers(owner: Api, other: Api) -> dict[str, Caller]:
    revoked = owner.post("/api-keys/", json={"name": "revoked", "role": "admin"}).json()
    assert owner.delete(f"/api-keys/{revoked['id']}/").status_code == 204

    def bearer(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    return {
        "no key": Caller({}),
        "malformed header": Caller({"Authorization": owner.key}),  # a good key, no scheme
        "wrong key": Caller(bearer(f"hr_{uuid.uuid4().hex}")),
        "revoked key": Caller(bearer(revoked["api_key"])),
        "viewer": Caller(bearer(owner.with_role("viewer").key), VIEWER),
        "builder": Caller(bearer(owner.with_role("builder").key), BUILDER),
        "admin": Caller(bearer(owner.key), ADMIN),
        "other org": Caller(bearer(other.key), ADMIN, other_org=True),
    }


def _expected(rule: Rule, caller: Caller, path: str) -> int:
    if rule.role is None:
        return rule.success
    if caller.role is None:
        return 401
    if not caller.role.allows(rule.role):
        return 403
    if caller.other_org and "{" in path:
        return 404
    return rule.success


_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found"}


def _problem(r: httpx.Response, status: int, ids: list[str], url: str) -> str | None:
    """What is wrong with ``r`` when ``status`` was expected (None: nothing)."""
    if r.status_code != status:
        return f"expected {status}, got {r.status_code}: {r.text[:200]}"
    if status >= 400 and r.headers["content-type"] != "application/problem+json":
        return f"an error served as {r.headers['content-type']!r}"
    if status in _CODES and r.json()["code"] != _CODES[status]:
        return f"code {r.json()['code']!r}, expected {_CODES[status]!r}"
    if status == 201 and not r.headers.get("Location", "").endswith(f"/{r.json()['id']}/"):
        return f"a 201 whose Location {r.headers.get('Location')!r} does not name its object"
    if status == 401 and r.headers.get("WWW-Authenticate") != "Bearer":
        return "a 401 without 'WWW-Authenticate: Bearer'"
    leaked = [i for i in ids if i in r.text and i not in url]
    return f"shows the owner's ids {leaked}" if leaked else None


def test_access_matrix(api: Api, client: TestClient, db: Database) -> None:
    other = make_org(client, db)
    make_objects(other)  # the other organisation has objects of its own
    shared = make_objects(api)
    callers = _callers(api, other)
    problems = []
    for method, path in _routes(client):
        rule = ACCESS[method, path]
        for name, caller in callers.items():
            objects, body = _prepare((method, path), api, shared)
            url = "/ui/index.html" if "{relative:path}" in path else objects.fill(path)
            r = client.request(method, url, headers=caller.headers, follow_redirects=False, **body)
            expected = _expected(rule, caller, path)
            # only another organisation must not see the owner's ids
            ids = objects.ids() if caller.other_org else []
            problem = _problem(r, expected, ids, url)
            if problem:
                problems.append(f"{method} {url} as {name}: {problem}")
    assert problems == [], "\n".join(problems)


def test_another_organisations_ids_are_404_even_beside_its_own(
    api: Api, client: TestClient, db: Database
) -> None:
    """Every route that names objects, with the owner's ids only and with the caller's own
    pipeline beside the owner's run or version, with and without the trailing slash: 404,
    and nothing of the owner's changes."""
    owner = make_org(client, db)
    theirs = make_objects(owner)
    mine = make_objects(api)
    views = [f"/pipelines/{theirs.pipeline_id}/", f"/datasets/{theirs.dataset_id}/", "/api-keys/"]
    before = {path: owner.get(path).json() for path in views}
    scoped = [(m, p) for m, p in _routes(client) if "{" in p and not ACCESS[m, p].public]
    for method, path in scoped:
        variants = [theirs]
        if "{pipeline_id}" in path and path.count("{") > 1:
            variants.append(replace(theirs, pipeline_id=mine.pipeline_id))
        for objects in variants:
            body = _body((method, path), objects)
            url = objects.fill(path)
            for candidate in (url, url.rstrip("/")):
                r = api.request(method, candidate, **body)
                assert _problem(r, 404, theirs.ids(), candidate) is None, (method, candidate)
    assert {path: owner.get(path).json() for path in views} == before


def test_viewer_of_one_org_sees_nothing_of_another(
    api: Api, client: TestClient, db: Database
) -> None:
    theirs = make_pipeline(make_org(client, db), name="same-name")
    mine = make_pipeline(api, name="same-name")
    viewer = api.with_role("viewer")
    assert [p["id"] for p in viewer.get("/pipelines/").json()] == [mine["id"]]
    assert viewer.get(f"/pipelines/{theirs['id']}/").status_code == 404


def test_every_post_replays_its_first_answer_under_its_idempotency_key(
    api: Api, client: TestClient
) -> None:
    """Each POST route, sent twice with one Idempotency-Key by a caller allowed to: the second
    answer is the first, replayed (a new route has this without a line of its own)."""
    shared = make_objects(api)
    posts = [(m, p) for m, p in _routes(client) if m == "POST"]
    assert len(posts) >= 6
    for method, path in posts:
        objects, body = _prepare((method, path), api, shared)
        url = objects.fill(path)
        key = {"Idempotency-Key": f"matrix-{uuid.uuid4()}"}
        first = client.request(method, url, headers=api.headers(key), **body)
        again = client.request(method, url, headers=api.headers(key), **body)
        assert first.status_code == ACCESS[method, path].success, (path, first.text)
        assert (again.status_code, again.content) == (first.status_code, first.content), path
        assert again.headers["Idempotent-Replayed"] == "true", path
        assert again.headers.get("Location") == first.headers.get("Location"), path
