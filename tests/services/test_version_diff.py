"""GET …/versions/{id}/diff/?against= over HTTP (issue 16 item 4): non-breaking changes, and
a removed or retyped output column flagged breaking with the readers of any pipeline named."""

from __future__ import annotations

from headrace.runtime import Runtime
from tests.execution.support import write_dataset
from tests.factories import Api, make_step


def _version(api: Api, pid: str, query: str) -> str:
    r = api.post(
        f"/pipelines/{pid}/versions/", json={"steps": [make_step("src", query, [], ["base"])]}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_breaking_and_non_breaking_diffs_name_the_readers(api: Api, runtime: Runtime) -> None:
    write_dataset(api, runtime, "base", "SELECT 1 AS id, 'a' AS tag, 2.5 AS amount")
    first = [make_step("src", "SELECT 1 AS id, 'a' AS tag, 2.5 AS amount", [], ["base"])]
    r = api.post("/pipelines/", json={"name": "producer", "steps": first})
    assert r.status_code == 201, r.text
    pid, v1 = r.json()["id"], r.json()["current_version"]["id"]
    reader = [make_step("uses", "SELECT id, amount * 2 AS double FROM base", ["base"], ["used"])]
    assert api.post("/pipelines/", json={"name": "consumer", "steps": reader}).status_code == 201

    # a new column and another filter: changed, not breaking
    v2 = _version(api, pid, "SELECT 1 AS id, 'a' AS tag, 2.5 AS amount, 3 AS extra")
    [step] = api.get(f"/pipelines/{pid}/versions/{v2}/diff/?against={v1}").json()["steps"]
    assert step == {
        "name": "src",
        "change": "changed",
        "fields": ["query"],
        "breaking": False,
        "reasons": [],
    }
    same = api.get(f"/pipelines/{pid}/versions/{v1}/diff", params={"against": v1}).json()
    assert same["steps"][0]["change"] == "same"

    # amount removed, id retyped: breaking, naming the consumer's step; tag has no reader
    v3 = _version(api, pid, "SELECT 'x' AS id, 'a' AS tag")
    [step] = api.get(f"/pipelines/{pid}/versions/{v3}/diff/?against={v2}").json()["steps"]
    assert step["breaking"] is True
    assert step["reasons"] == [
        "column 'id' of 'base' changes type from INTEGER to VARCHAR; read by consumer/uses",
        "column 'amount' of 'base' is removed or renamed; read by consumer/uses",
        "column 'extra' of 'base' is removed or renamed; no known reader",
    ]
    r = api.get(f"/pipelines/{pid}/versions/{v3}/diff/?against={pid}")
    assert r.status_code == 404
