"""One JSON error shape for every 4xx, ours and the framework's; paths with and without '/'."""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Any

import httpx
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from headrace.schemas.common import ErrorBody
from tests.factories import Api, app_routes, generated_steps, make_pipeline

# The shape, pinned independently of the code's own model.
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "errors"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "about:blank"},
        "title": {"type": "string", "minLength": 1},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "minLength": 1},
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "additionalProperties": False,
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
VALIDATOR = Draft202012Validator(ERROR_SCHEMA)


def _assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert [e.message for e in VALIDATOR.iter_errors(body)] == []
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"] == HTTPStatus(status).phrase
    return body


def test_the_shape_matches_the_documented_model() -> None:
    assert set(ErrorBody.model_fields) == set(ERROR_SCHEMA["properties"])


def test_every_kind_of_4xx_has_the_one_shape(api: Api, client: TestClient) -> None:
    p = make_pipeline(api)
    pid = p["id"]
    run = api.post(f"/pipelines/{pid}/runs/", json={}).json()
    api.post(f"/pipelines/{pid}/runs/{run['id']}/cancel/")
    viewer = api.with_role("viewer")
    cases: list[tuple[httpx.Response, int, str]] = [
        (client.get("/pipelines/"), 401, "unauthorized"),
        (viewer.post("/pipelines/", json={"name": "x", "steps": []}), 403, "forbidden"),
        (api.get(f"/pipelines/{uuid.uuid4()}/"), 404, "not_found"),
        (api.get("/no/such/route/"), 404, "not_found"),
        (client.get("/no/such/route"), 404, "not_found"),
        (api.put("/pipelines/"), 405, "method_not_allowed"),
        (api.delete("/api-keys/"), 405, "method_not_allowed"),
        (api.post(f"/pipelines/{pid}/runs/{run['id']}/cancel/"), 409, "conflict"),
        (
            api.post("/pipelines/", json={"name": p["name"], "steps": generated_steps()}),
            409,
            "conflict",
        ),
        (api.post("/pipelines/", json={"name": "x", "steps": []}), 422, "invalid_input"),
        (api.post("/pipelines/", json={"steps": 1, "surprise": True}), 422, "invalid_input"),
        (
            api.post(
                "/pipelines/",
                content=b'{"name": "x", "steps": [',
                headers={"Content-Type": "application/json"},
            ),
            422,
            "invalid_input",
        ),
        (
            api.post("/pipelines/", content=b"name=x", headers={"Content-Type": "text/plain"}),
            422,
            "invalid_input",
        ),
        (api.get("/pipelines/not-a-uuid/"), 422, "invalid_input"),
        (api.get("/pipelines/", params={"limit": -1}), 422, "invalid_input"),
        (api.get("/pipelines/", params={"cursor": "%%%"}), 422, "invalid_input"),
    ]
    for r, status, code in cases:
        _assert_error(r, status, code)


def test_framework_validation_errors_are_located(api: Api) -> None:
    body = _assert_error(
        api.post("/pipelines/", json={"steps": [{"name": "a"}], "extra": 1}), 422, "invalid_input"
    )
    locs = [e["loc"] for e in body["errors"]]
    assert ["body", "name"] in locs
    assert ["body", "steps", 0, "config"] in locs
    assert ["body", "extra"] in locs
    malformed = _assert_error(
        api.post("/pipelines/", content=b"{not json", headers={"Content-Type": "application/json"}),
        422,
        "invalid_input",
    )
    assert malformed["errors"][0]["type"] == "json_invalid"


def test_a_json_body_that_is_not_utf8_is_invalid_input(api: Api) -> None:
    """Found by the fuzzer: FastAPI answered these with an undocumented bare 400."""
    for method, path in (("POST", "/pipelines/"), ("PUT", "/datasets/upsert/")):
        r = api.request(
            method, path, content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
        )
        body = _assert_error(r, 422, "invalid_input")
        assert body["errors"][0]["loc"] == ["body"]
        assert body["errors"][0]["type"] == "json_invalid"


def test_unauthorized_and_unknown_routes_do_not_leak_a_500(client: TestClient) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        r = client.request(method, f"/pipelines/{uuid.uuid4()}/runs/{uuid.uuid4()}/")
        assert r.status_code in (401, 405), (method, r.status_code)
        assert [e.message for e in VALIDATOR.iter_errors(r.json())] == []


def test_paths_answer_with_and_without_trailing_slash(api: Api) -> None:
    p = make_pipeline(api)
    pid = p["id"]
    vid = p["current_version"]["id"]
    run = api.post(f"/pipelines/{pid}/runs", json={})
    assert run.status_code == 201
    rid = run.json()["id"]
    reads = [
        "/api-keys/",
        "/pipelines/",
        f"/pipelines/{pid}/",
        f"/pipelines/{pid}/versions/",
        f"/pipelines/{pid}/versions/{vid}/",
        f"/pipelines/{pid}/runs/",
        f"/pipelines/{pid}/runs/{rid}/",
        f"/pipelines/{pid}/runs/{rid}/steps/gen/logs/",
    ]
    for path in reads:
        with_slash = api.get(path, follow_redirects=False)
        without = api.get(path.rstrip("/"), follow_redirects=False)
        assert with_slash.status_code == 200, path
        assert without.status_code == 200, path
        assert with_slash.content == without.content, path
    writes: list[tuple[str, str, Any, int]] = [
        ("POST", "/api-keys", {"name": "k", "role": "viewer"}, 201),
        ("PATCH", f"/pipelines/{pid}", {"description": "d"}, 200),
        ("POST", f"/pipelines/{pid}/versions", {"steps": generated_steps()}, 201),
        ("POST", f"/pipelines/{pid}/runs/{rid}/cancel", None, 200),
        ("POST", f"/pipelines/{pid}/runs/{rid}/retry", None, 201),
    ]
    for method, path, body, status in writes:
        r = api.request(method, path, json=body, follow_redirects=False)
        assert r.status_code == status, (method, path, r.text)
    key_id = api.get("/api-keys").json()[-1]["id"]
    assert api.delete(f"/api-keys/{key_id}", follow_redirects=False).status_code == 204
    other = make_pipeline(api)
    assert api.delete(f"/pipelines/{other['id']}", follow_redirects=False).status_code == 204
    assert api.post("/pipelines", json={"name": "n", "steps": generated_steps()}).status_code == 201


# The web UI's entry points, the only redirects there are (a browser convenience).
UI_REDIRECTS = {"/": "/ui/", "/ui": "/ui/"}


def test_no_route_ever_redirects(api: Api, client: TestClient) -> None:
    routes = app_routes(client.app)
    assert len(routes) > 20
    for method, path in routes:
        url = path.replace("{", "").replace("}", "")
        for candidate in {url, url.rstrip("/") or "/", url.rstrip("/") + "/"}:
            r = api.request(method, candidate, follow_redirects=False)
            if candidate in UI_REDIRECTS and method == "GET":
                assert r.headers["location"] == UI_REDIRECTS[candidate]
                continue
            assert r.status_code not in (301, 302, 303, 307, 308), (method, candidate)


def test_openapi_declares_every_error_in_the_one_shape(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            errors = {s: r for s, r in operation["responses"].items() if s.startswith("4")}
            if operation.get("security"):
                assert {"401", "403", "422"} <= set(errors), (method, path)
            for response in errors.values():
                assert list(response["content"]) == ["application/problem+json"], (method, path)
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
