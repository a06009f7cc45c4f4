"""/pipelines/{id}/triggers/ over HTTP: bad fields and loops are 422s that say what is wrong."""

from __future__ import annotations

from tests.factories import Api, make_pipeline, make_step


def test_every_bad_field_of_a_trigger_is_listed(api: Api) -> None:
    pipeline = make_pipeline(api)
    r = api.post(
        f"/pipelines/{pipeline['id']}/triggers/",
        json={"datasets": ["a b", "x", "x"], "mode": "most", "debounce_seconds": -5},
    )
    assert r.status_code == 422, r.text
    assert {e["type"] for e in r.json()["errors"]} == {
        "trigger.name",
        "trigger.duplicate",
        "trigger.bad_mode",
        "trigger.bad_debounce",
    }


def test_triggers_and_versions_that_would_loop_are_refused_naming_the_loop(api: Api) -> None:
    first = make_pipeline(api, [make_step("s", "SELECT 1 AS n", [], ["raw"])], name="first")
    second = make_pipeline(
        api, [make_step("s", "SELECT * FROM raw", ["raw"], ["clean"])], name="second"
    )
    r = api.post(f"/pipelines/{first['id']}/triggers/", json={"datasets": ["raw"]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["type"] == "trigger.loop"
    assert "pipeline 'first' writes 'raw', which triggers 'first'" in r.json()["errors"][0]["msg"]
    r = api.post(f"/pipelines/{second['id']}/triggers/", json={"datasets": ["raw"]})
    assert r.status_code == 201, r.text
    made = r.json()
    r = api.post(f"/pipelines/{first['id']}/triggers/", json={"datasets": ["clean"]})
    assert r.status_code == 422
    msg = r.json()["errors"][0]["msg"]
    assert "'first' writes 'raw', which triggers 'second'" in msg
    assert "'second' writes 'clean', which triggers 'first'" in msg
    # a new version of second that writes raw itself would loop too
    steps = [
        make_step("s", "SELECT * FROM raw", ["raw"], ["clean"]),
        make_step("t", "SELECT 2 AS n", [], ["raw2"]),
    ]
    assert (
        api.post(f"/pipelines/{second['id']}/versions/", json={"steps": steps}).status_code == 201
    )
    steps = [make_step("s", "SELECT 1 AS n", [], ["raw"])]
    r = api.post(f"/pipelines/{second['id']}/versions/", json={"steps": steps})
    assert r.status_code == 422 and r.json()["errors"][0]["type"] == "trigger.loop"
    assert api.get(f"/pipelines/{second['id']}/triggers/").json() == [made]
    url = f"/pipelines/{second['id']}/triggers/{made['id']}/"
    assert api.delete(url).status_code == 204
    assert api.delete(url).status_code == 404
