"""Every 201 names what it created in ``Location``, and that address serves the object."""

from __future__ import annotations

from fastapi.testclient import TestClient

from headrace.api.app import create_app
from headrace.runtime import Runtime
from headrace.settings import Settings
from tests.factories import Api, generated_steps, make_pipeline, make_run


def test_each_created_object_is_served_at_its_location(api: Api) -> None:
    p = make_pipeline(api)
    pid = p["id"]
    created = {
        "pipeline": api.post("/pipelines", json={"name": "loc", "steps": generated_steps()}),
        "version": api.post(f"/pipelines/{pid}/versions/", json={"steps": generated_steps()}),
        "run": api.post(f"/pipelines/{pid}/runs", json={}),
        "dataset": api.post(
            "/datasets/",
            data={"name": "located"},
            files={"file": ("rows.csv", b"id\n1\n", "text/csv")},
        ),
    }
    for what, r in created.items():
        assert r.status_code == 201, (what, r.text)
        served = api.get(r.headers["Location"])
        assert served.status_code == 200, (what, r.headers["Location"])
        assert served.json()["id"] == r.json()["id"], what
    new_pipeline = created["pipeline"]
    assert new_pipeline.headers["Location"] == f"/pipelines/{new_pipeline.json()['id']}/"


def test_a_retry_is_located_among_the_runs_not_under_retry(api: Api) -> None:
    pid = make_pipeline(api)["id"]
    run = make_run(api, pid)
    api.post(f"/pipelines/{pid}/runs/{run['id']}/cancel/")
    retried = api.post(f"/pipelines/{pid}/runs/{run['id']}/retry/")
    assert retried.status_code == 201, retried.text
    new_id = retried.json()["id"]
    assert retried.headers["Location"] == f"/pipelines/{pid}/runs/{new_id}/"
    assert api.get(retried.headers["Location"]).json()["id"] == new_id


def test_a_new_key_is_located_where_it_is_revoked(api: Api) -> None:
    r = api.post("/api-keys/", json={"name": "k", "role": "viewer"})
    assert r.headers["Location"] == f"/api-keys/{r.json()['id']}/"
    assert api.delete(r.headers["Location"]).status_code == 204


def test_behind_a_path_prefix_the_location_keeps_it(
    settings: Settings, runtime: Runtime, api: Api
) -> None:
    app = create_app(settings, runtime)
    with TestClient(app, root_path="/headrace", raise_server_exceptions=False) as prefixed:
        r = prefixed.post(
            "/pipelines/",
            json={"name": "prefixed", "steps": generated_steps()},
            headers=api.headers(),
        )
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/headrace/pipelines/{r.json()['id']}/"
