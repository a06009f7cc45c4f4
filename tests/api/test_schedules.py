"""/pipelines/{id}/schedules/ over HTTP: every problem at once, next fire times in the
schedule's zone, change and delete."""

from __future__ import annotations

import datetime as dt

from tests.factories import Api, make_pipeline, make_step


def test_every_bad_field_of_a_schedule_is_listed(api: Api) -> None:
    body = {"name": "sched-p", "steps": [make_step("s", "SELECT $n AS n", [], ["o"])]}
    body["parameters"] = [{"name": "n", "type": "integer"}]
    pipeline = api.post("/pipelines/", json=body).json()
    r = api.post(
        f"/pipelines/{pipeline['id']}/schedules/",
        json={
            "cron": "every day",
            "timezone": "Europe/Atlantis",
            "catchup": "some",
            "start_job_name": "nope",
            "parameters": {"n": "x", "m": 1},
        },
    )
    assert r.status_code == 422, r.text
    assert {(tuple(e["loc"]), e["type"]) for e in r.json()["errors"]} == {
        (("body", "cron"), "schedule.bad_cron"),
        (("body", "timezone"), "schedule.bad_timezone"),
        (("body", "catchup"), "schedule.bad_catchup"),
        (("body", "start_job_name"), "unknown_step"),
        (("body", "parameters", "n"), "parameter.bad_value"),
        (("body", "parameters", "m"), "parameter.unknown"),
    }


def test_a_schedule_shows_its_next_fire_times_and_can_be_changed(api: Api) -> None:
    pipeline = make_pipeline(api)
    base = f"/pipelines/{pipeline['id']}/schedules/"
    r = api.post(base, json={"cron": "30 2 * * *", "timezone": "Europe/Berlin"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert r.headers["Location"] == f"{base}{made['id']}/"
    assert made["catchup"] == "latest" and made["enabled"] is True
    fires = [dt.datetime.fromisoformat(t) for t in made["next_fire_times"]]
    assert len(fires) == 5 and fires == sorted(fires)
    assert all(t.utcoffset() is not None and t.minute == 30 for t in fires)
    assert api.get(base).json() == [made]
    r = api.patch(f"{base}{made['id']}/", json={"enabled": False})
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False and r.json()["next_fire_times"] == []
    r = api.patch(f"{base}{made['id']}/", json={"timezone": "Mars/Base"})
    assert r.status_code == 422
    assert api.delete(f"{base}{made['id']}/").status_code == 204
    assert api.get(base).json() == []
    assert api.delete(f"{base}{made['id']}/").status_code == 404
