"""Pipelines and their immutable versions through the API."""

from __future__ import annotations

import uuid

from tests.factories import Api, generated_steps, make_pipeline, make_step


def test_create_returns_pipeline_with_version_1(api: Api) -> None:
    steps = generated_steps()
    r = api.post("/pipelines/", json={"name": "shop", "description": "d", "steps": steps})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["name"] == "shop"
    assert p["description"] == "d"
    version = p["current_version"]
    assert version["number"] == 1
    assert version["pipeline_id"] == p["id"]
    assert [s["name"] for s in version["steps"]] == ["gen", "double", "total"]
    assert [s["config"] for s in version["steps"]] == [s["config"] for s in steps]
    assert api.get(f"/pipelines/{p['id']}/").json() == p


def test_list_pipelines_newest_first(api: Api) -> None:
    first = make_pipeline(api)
    second = make_pipeline(api)
    r = api.get("/pipelines/")
    assert r.status_code == 200
    assert [p["id"] for p in r.json()] == [second["id"], first["id"]]
    page = api.get("/pipelines/", params={"limit": 1})
    assert [p["id"] for p in page.json()] == [second["id"]]
    assert 'rel="next"' in page.headers["Link"]


def test_duplicate_pipeline_name_is_409(api: Api) -> None:
    make_pipeline(api, name="same")
    r = api.post("/pipelines/", json={"name": "same", "steps": generated_steps()})
    assert r.status_code == 409
    assert r.json()["code"] == "conflict"


def test_patch_name_and_description(api: Api) -> None:
    p = make_pipeline(api)
    r = api.patch(f"/pipelines/{p['id']}/", json={"name": "renamed", "description": "new"})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "renamed"
    assert r.json()["description"] == "new"
    assert r.json()["current_version"] == p["current_version"]
    again = api.get(f"/pipelines/{p['id']}/").json()
    assert (again["name"], again["description"]) == ("renamed", "new")
    other = make_pipeline(api)
    clash = api.patch(f"/pipelines/{other['id']}/", json={"name": "renamed"})
    assert clash.status_code == 409
    empty = api.patch(f"/pipelines/{other['id']}/", json={"name": " "})
    assert empty.status_code == 422


def test_delete_pipeline_with_versions_and_runs(api: Api) -> None:
    p = make_pipeline(api)
    run = api.post(f"/pipelines/{p['id']}/runs/", json={}).json()
    busy = api.delete(f"/pipelines/{p['id']}/")
    assert busy.status_code == 409
    assert api.post(f"/pipelines/{p['id']}/runs/{run['id']}/cancel/").status_code == 200
    r = api.delete(f"/pipelines/{p['id']}/")
    assert r.status_code == 204
    assert api.get(f"/pipelines/{p['id']}/").status_code == 404
    assert api.get(f"/pipelines/{p['id']}/runs/{run['id']}/").status_code == 404
    assert api.delete(f"/pipelines/{p['id']}/").status_code == 404


def test_post_version_becomes_current(api: Api) -> None:
    p = make_pipeline(api)
    v1 = p["current_version"]
    new_steps = [make_step("only", "SELECT 42 AS answer", [], ["answer"])]
    r = api.post(f"/pipelines/{p['id']}/versions/", json={"steps": new_steps})
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["number"] == 2
    assert v2["id"] != v1["id"]
    assert [s["name"] for s in v2["steps"]] == ["only"]
    assert api.get(f"/pipelines/{p['id']}/").json()["current_version"] == v2
    listed = api.get(f"/pipelines/{p['id']}/versions/").json()
    assert [v["id"] for v in listed] == [v2["id"], v1["id"]]
    # the old version is unchanged and still readable
    assert api.get(f"/pipelines/{p['id']}/versions/{v1['id']}/").json() == v1
    assert api.get(f"/pipelines/{p['id']}/versions/{v2['id']}/").json() == v2


def test_versions_are_immutable(api: Api) -> None:
    p = make_pipeline(api)
    v1 = p["current_version"]
    url = f"/pipelines/{p['id']}/versions/{v1['id']}/"
    for method in ("PUT", "PATCH", "DELETE"):
        r = api.request(method, url, json={"steps": []})
        assert r.status_code == 405, method
    api.patch(f"/pipelines/{p['id']}/", json={"name": "changed"})
    api.post(f"/pipelines/{p['id']}/versions/", json={"steps": generated_steps()[:1]})
    assert api.get(url).json() == v1


def test_invalid_new_version_leaves_current_alone(api: Api) -> None:
    p = make_pipeline(api)
    bad = [make_step("a", "SELECT 1", [], ["x"]), make_step("a", "SELECT 2", [], ["y"])]
    r = api.post(f"/pipelines/{p['id']}/versions/", json={"steps": bad})
    assert r.status_code == 422
    assert api.get(f"/pipelines/{p['id']}/").json()["current_version"] == p["current_version"]
    assert len(api.get(f"/pipelines/{p['id']}/versions/").json()) == 1


def test_unknown_pipeline_and_version_are_404(api: Api) -> None:
    p = make_pipeline(api)
    assert api.get(f"/pipelines/{uuid.uuid4()}/").status_code == 404
    assert api.get(f"/pipelines/{p['id']}/versions/{uuid.uuid4()}/").status_code == 404
    other = make_pipeline(api)
    foreign_version = other["current_version"]["id"]
    assert api.get(f"/pipelines/{p['id']}/versions/{foreign_version}/").status_code == 404


def test_malformed_uuid_in_path_is_422(api: Api) -> None:
    r = api.get("/pipelines/not-a-uuid/")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["path", "pipeline_id"]
