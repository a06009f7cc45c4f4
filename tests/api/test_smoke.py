"""The main path through the API on both metadata stores."""

from __future__ import annotations

from tests.factories import Api, make_pipeline


def test_create_pipeline_and_run(api: Api) -> None:
    pipeline = make_pipeline(api)
    assert pipeline["current_version"]["steps"][0]["name"] == "gen"
    r = api.post(f"/pipelines/{pipeline['id']}/runs/", json={})
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["status"] == "Pending"
    assert [s["name"] for s in run["run_steps"]] == ["gen", "double", "total"]
    listed = api.get(f"/pipelines/{pipeline['id']}/runs/")
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()] == [run["id"]]
    assert api.get(f"/pipelines/{pipeline['id']}/runs").json() == listed.json()
