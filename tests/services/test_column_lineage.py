"""GET …/versions/{id}/lineage/ over HTTP: a stored version's column lineage, from an
existing dataset through two steps."""

from __future__ import annotations

from headrace.runtime import Runtime
from tests.execution.support import write_dataset
from tests.factories import Api, make_step


def test_lineage_of_a_version_follows_columns_across_steps(api: Api, runtime: Runtime) -> None:
    write_dataset(api, runtime, "sales", "SELECT 1 AS sale_id, 2.5 AS amount, 3 AS cust")
    steps = [
        make_step(
            "by_cust",
            "SELECT cust, sum(amount) AS total FROM sales GROUP BY cust",
            ["sales"],
            ["by_cust"],
        ),
        make_step("best", "SELECT * FROM by_cust WHERE total > 1", ["by_cust"], ["best"]),
    ]
    r = api.post("/pipelines/", json={"name": "lineage", "steps": steps})
    assert r.status_code == 201, r.text
    pid, vid = r.json()["id"], r.json()["current_version"]["id"]
    found = api.get(f"/pipelines/{pid}/versions/{vid}/lineage")
    assert found.status_code == 200, found.text
    assert found.json() == [
        {
            "from": {"dataset": "sales", "column": "cust"},
            "to": {"dataset": "by_cust", "column": "cust"},
            "step": "by_cust",
        },
        {
            "from": {"dataset": "sales", "column": "amount"},
            "to": {"dataset": "by_cust", "column": "total"},
            "step": "by_cust",
        },
        {
            "from": {"dataset": "by_cust", "column": "cust"},
            "to": {"dataset": "best", "column": "cust"},
            "step": "best",
        },
        {
            "from": {"dataset": "by_cust", "column": "total"},
            "to": {"dataset": "best", "column": "total"},
            "step": "best",
        },
    ]
    other = api.get(f"/pipelines/{pid}/versions/{pid}/lineage/")
    assert other.status_code == 404
