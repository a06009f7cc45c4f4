"""The seed contract: GET /pipelines/{id}/runs/ answers exactly the published shape.

``seed_run_schema.json`` was written by hand from the seed file: every field of the seed is
required with its type and nullability, and uuid/date-time formats are checked.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from headrace.persistence.db import Database
from tests.factories import Api, add_dataset_version, diamond_steps, make_pipeline, make_run

SCHEMA = json.loads((Path(__file__).parent / "seed_run_schema.json").read_text())

# RFC 3339 date-time (jsonschema's own date-time check needs an extra package).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    return True


VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FORMATS)


def _errors(instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in VALIDATOR.iter_errors(instance)
    ]


def test_schema_is_valid_and_checks_formats() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert "uuid" in FORMATS.checkers
    assert "date-time" in FORMATS.checkers


def test_seed_example_matches_the_schema() -> None:
    """The example of the seed file itself, copied word for word, passes."""
    assert _errors(SEED_EXAMPLE) == []


SEED_EXAMPLE: list[dict[str, Any]] = [
    {
        "id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        "pipeline_config_version_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        "name": "<string>",
        "status": "<string>",
        "argo_manifest": {},
        "argo_metadata": {},
        "pipeline_version": {
            "id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
            "pipeline_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
            "steps": [
                {
                    "name": "<string>",
                    "config": {
                        "query_type": "sql",
                        "query": "<string>",
                        "input_datasets": ["<string>"],
                        "output_datasets": ["<string>"],
                        "job_type": "data-transform",
                    },
                    "created_at": "2023-11-07T05:31:56Z",
                    "id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
                }
            ],
            "created_at": "2023-11-07T05:31:56Z",
        },
        "created_at": "2023-11-07T05:31:56Z",
        "finished_at": "2023-11-07T05:31:56Z",
        "run_steps": [
            {
                "name": "<string>",
                "run_name": "<string>",
                "status": "Succeeded",
                "started_at": "2023-11-07T05:31:56Z",
                "finished_at": "2023-11-07T05:31:56Z",
            }
        ],
    }
]


def _broken(path: list[str | int], value: Any) -> list[dict[str, Any]]:
    doc = copy.deepcopy(SEED_EXAMPLE)
    target: Any = doc[0]
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["id"], "not-a-uuid"),
        (["id"], _DELETE),
        (["pipeline_config_version_id"], _DELETE),
        (["name"], None),
        (["status"], 1),
        (["argo_manifest"], []),
        (["argo_metadata"], _DELETE),
        (["created_at"], "yesterday"),
        (["created_at"], "2023-11-07 05:31:56"),
        (["finished_at"], _DELETE),
        (["finished_at"], "2023-13-07T05:31:56Z"),
        (["run_steps"], None),
        (["run_steps", 0, "run_name"], _DELETE),
        (["run_steps", 0, "started_at"], "soon"),
        (["pipeline_version", "pipeline_id"], "x"),
        (["pipeline_version", "created_at"], _DELETE),
        (["pipeline_version", "steps", 0, "id"], _DELETE),
        (["pipeline_version", "steps", 0, "config", "job_type"], "spark"),
        (["pipeline_version", "steps", 0, "config", "input_datasets"], "a"),
    ],
)
def test_schema_rejects_a_broken_seed(path: list[str | int], value: Any) -> None:
    assert _errors(_broken(path, value)), path


def test_real_runs_match_the_seed(api: Api, db: Database) -> None:
    p = make_pipeline(api, diamond_steps())
    add_dataset_version(db, api.org_id, "base")
    add_dataset_version(db, api.org_id, "odds")
    whole = make_run(api, p["id"])
    partial = make_run(api, p["id"], start_job_name="left")
    cancelled = make_run(api, p["id"], end_job_name="right")
    assert api.post(f"/pipelines/{p['id']}/runs/{cancelled['id']}/cancel/").status_code == 200
    r = api.get(f"/pipelines/{p['id']}/runs/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    runs = r.json()
    assert _errors(runs) == []
    assert [run["id"] for run in runs] == [cancelled["id"], partial["id"], whole["id"]]
    by_id = {run["id"]: run for run in runs}
    assert by_id[cancelled["id"]]["finished_at"] is not None
    assert by_id[whole["id"]]["finished_at"] is None
    for run in runs:
        uuid.UUID(run["id"])
        assert run["pipeline_version"]["id"] == run["pipeline_config_version_id"]
    # GET one run, POST a run and the filtered list all have the same shape
    assert _errors([api.get(f"/pipelines/{p['id']}/runs/{whole['id']}/").json()]) == []
    assert _errors([whole, partial]) == []
    filtered = api.get(
        f"/pipelines/{p['id']}/runs", params={"version_id": p["current_version"]["id"]}
    )
    assert _errors(filtered.json()) == []
    assert len(filtered.json()) == 3


def test_empty_list_is_an_array(api: Api) -> None:
    p = make_pipeline(api)
    r = api.get(f"/pipelines/{p['id']}/runs/")
    assert r.json() == []
    assert _errors(r.json()) == []
