"""The manifest size limit: a run whose Workflow would be too large is refused when it is
created, so nothing is stored for a worker to claim and nothing reaches Argo."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from headrace.api.app import create_app
from headrace.persistence.db import Database
from headrace.runtime import Runtime
from headrace.settings import Settings
from tests.execution.argo.manifests import render_case
from tests.factories import make_org, make_pipeline


def test_oversized_manifest_refuses_the_run(settings: Settings, db: Database) -> None:
    size = len(json.dumps(render_case("linear"), separators=(",", ":")))
    small = settings.model_copy(update={"manifest_max_bytes": size // 2})
    with (
        Runtime(small, db) as rt,
        TestClient(create_app(small, rt), raise_server_exceptions=False) as client,
    ):
        api = make_org(client, db)
        pipeline = make_pipeline(api)

        r = api.post(f"/pipelines/{pipeline['id']}/runs/", json={})

        assert r.status_code == 422, r.text
        body = r.json()
        assert "Argo manifest would be" in body["detail"]
        assert [e["type"] for e in body["errors"]] == ["run.manifest_too_large"]
        assert api.get(f"/pipelines/{pipeline['id']}/runs/").json() == []
