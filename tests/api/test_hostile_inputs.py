"""Hostile client, inputs: what a probe sent that the API answered with a 500, or took when
it should not have (issue 21 items 5 and 7). Each is a 4xx in the one error shape now."""

from __future__ import annotations

from tests.api.test_bad_uploads import check_error_shape
from tests.conftest import new_name
from tests.factories import Api, generated_steps, make_pipeline, make_step

INJECTED_KEY = "`id` = 1 OR 1=1 --"


def test_an_upsert_key_named_like_sql_is_refused_not_a_500(api: Api) -> None:
    name = new_name("d")
    rows = [{INJECTED_KEY: 1, "v": "a"}, {INJECTED_KEY: 2, "v": "b"}]
    for _ in range(2):  # the second would merge into the first
        r = api.put(
            "/datasets/upsert/",
            json={"dataset_name": name, "row_unique_identifier": INJECTED_KEY, "data": rows},
        )
        body = check_error_shape(r, 422)
        assert body["errors"][0]["loc"] == ["body", "row_unique_identifier"], body
    # a field named so (not the key) cannot be merged either
    r = api.put(
        "/datasets/upsert/",
        json={"dataset_name": name, "row_unique_identifier": "id", "data": [{"id": 1, "a`b": 2}]},
    )
    body = check_error_shape(r, 422)
    assert body["errors"] == [
        {
            "loc": ["body", "data", 0, "a`b"],
            "msg": body["errors"][0]["msg"],
            "type": "name.unmergeable",
        }
    ]
    # other odd names merge fine
    odd = 'k"quoted"--x'
    for rows in ([{odd: 1, "v": "a"}], [{odd: 1, "v": "b"}, {odd: 2, "v": "c"}]):
        r = api.put(
            "/datasets/upsert/",
            json={"dataset_name": name, "row_unique_identifier": odd, "data": rows},
        )
        assert r.status_code == 200, r.text
    assert r.json()["row_count"] == 2


BAD_LABELS = {
    "NUL": "a\x00b",
    "CR/LF": "ok\r\n200 GET /forged",
    "bidi override": "invoice\u202egnp.exe",
    "zero width": "ad\u200bmin",
    "100,000 characters": "x" * 100_000,
    "blank": "   ",
}


def test_names_hold_one_line_of_visible_text(api: Api) -> None:
    """Pipeline and key names went into VARCHAR(255) columns unchecked (a 500 on PostgreSQL
    for NUL or past 255), step and dataset names are plain words already."""
    pipeline = make_pipeline(api, generated_steps())
    for what, bad in BAD_LABELS.items():
        for r in (
            api.post("/pipelines/", json={"name": bad, "steps": generated_steps()}),
            api.patch(f"/pipelines/{pipeline['id']}/", json={"name": bad}),
            api.post("/api-keys/", json={"name": bad, "role": "viewer"}),
        ):
            body = check_error_shape(r, 422)
            assert body["errors"][0]["loc"] == ["body", "name"], (what, body)
    for bad in ("a\x00b", "x" * 10_001):
        r = api.patch(f"/pipelines/{pipeline['id']}/", json={"description": bad})
        assert check_error_shape(r, 422)["errors"][0]["loc"] == ["body", "description"]
    step = make_step("s", "SELECT 1 AS n -- \x00")
    r = api.post("/pipelines/", json={"name": new_name(), "steps": [step]})
    assert check_error_shape(r, 422)["errors"][0]["loc"] == ["steps", "s", "config", "query"]
    # what stays allowed: accents, scripts, emoji, line breaks in descriptions
    r = api.patch(
        f"/pipelines/{pipeline['id']}/",
        json={"name": f"Ventes été — 売上 📈 {new_name()}", "description": "line 1\n\tline 2"},
    )
    assert r.status_code == 200, r.text


def test_internal_names_are_reserved_at_save(api: Api) -> None:
    """An input named like the step's internal view passed save and failed at run time."""
    steps = [
        make_step("s", "SELECT * FROM __headrace_output", ["__headrace_output"], ["out"]),
        make_step("__headrace_step", "SELECT 1 AS n", [], ["__HEADRACE_x"]),
    ]
    r = api.post("/pipelines/", json={"name": new_name(), "steps": steps})
    body = check_error_shape(r, 422)
    reserved = [e["loc"] for e in body["errors"] if e["type"] == "name.reserved"]
    assert reserved == [
        ["steps", "s", "config", "input_datasets", 0],
        ["steps", 1, "name"],
        ["steps", "__headrace_step", "config", "output_datasets", 0],
    ], body


def test_a_new_key_is_not_cached_and_the_last_admin_key_stays(api: Api) -> None:
    r = api.post("/api-keys/", json={"name": "second admin", "role": "admin"})
    assert r.status_code == 201
    assert r.headers["Cache-Control"] == "no-store"
    second = r.json()
    mine = next(k for k in api.get("/api-keys/").json() if k["id"] != second["id"])
    assert api.delete(f"/api-keys/{mine['id']}/").status_code == 204  # another admin is left
    last = Api(api.client, second["api_key"], api.org_id)
    r = last.delete(f"/api-keys/{second['id']}/")
    assert "last admin key" in check_error_shape(r, 409)["detail"]
    assert last.get("/api-keys/").status_code == 200
    viewer = last.post("/api-keys/", json={"name": "v", "role": "viewer"}).json()
    assert last.delete(f"/api-keys/{viewer['id']}/").status_code == 204  # not an admin
