"""One object of each kind in one organisation, made over HTTP, for the suites that call every
endpoint with real ids (the access matrix, the fuzzer)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.factories import Api, make_pipeline, make_run


@dataclass(frozen=True)
class Objects:
    """The ids of one organisation's objects; the run has ended (Cancelled), so its event
    stream closes at once."""

    pipeline_id: str
    version_id: str
    run_id: str
    key_id: str
    dataset_id: str
    dataset_name: str
    webhook_id: str
    step_name: str = "gen"
    schedule_id: str = ""
    trigger_id: str = ""

    def params(self) -> dict[str, str]:
        """Values for every path parameter of the API."""
        return {
            "pipeline_id": self.pipeline_id,
            "version_id": self.version_id,
            "run_id": self.run_id,
            "key_id": self.key_id,
            "dataset_id": self.dataset_id,
            "webhook_id": self.webhook_id,
            "step_name": self.step_name,
            "schedule_id": self.schedule_id,
            "trigger_id": self.trigger_id,
        }

    def ids(self) -> list[str]:
        return [
            self.pipeline_id,
            self.version_id,
            self.run_id,
            self.key_id,
            self.dataset_id,
            self.webhook_id,
            self.schedule_id,
            self.trigger_id,
        ]

    def fill(self, path: str) -> str:
        """``path`` with its ``{parameters}`` replaced by these objects' ids."""
        return re.sub(r"\{(\w+)\}", lambda m: self.params()[m.group(1)], path)


def make_objects(api: Api) -> Objects:
    """A pipeline (generated steps), an ended run of it, a spare viewer key, a dataset and a
    webhook."""
    pipeline = make_pipeline(api)
    run = make_run(api, pipeline["id"])
    cancelled = api.post(f"/pipelines/{pipeline['id']}/runs/{run['id']}/cancel/")
    assert cancelled.status_code == 200, cancelled.text
    key = api.post("/api-keys/", json={"name": "spare", "role": "viewer"})
    assert key.status_code == 201, key.text
    name = f"ds_{pipeline['id'][:8]}"
    body = {"dataset_name": name, "row_unique_identifier": "id", "data": [{"id": 1, "v": "b"}]}
    dataset = api.put("/datasets/upsert/", json=body)
    assert dataset.status_code == 200, dataset.text
    # a public address never sent to: no dispatcher runs beside the API in these suites
    hook = api.post("/webhooks/", json={"url": "https://1.1.1.1/hook", "events": ["run.failed"]})
    assert hook.status_code == 201, hook.text
    schedule = api.post(f"/pipelines/{pipeline['id']}/schedules/", json={"cron": "0 0 1 1 *"})
    assert schedule.status_code == 201, schedule.text
    trigger = api.post(f"/pipelines/{pipeline['id']}/triggers/", json={"datasets": [name]})
    assert trigger.status_code == 201, trigger.text
    return Objects(
        pipeline_id=pipeline["id"],
        version_id=pipeline["current_version"]["id"],
        run_id=run["id"],
        key_id=key.json()["id"],
        dataset_id=dataset.json()["id"],
        dataset_name=name,
        webhook_id=hook.json()["id"],
        schedule_id=schedule.json()["id"],
        trigger_id=trigger.json()["id"],
    )
