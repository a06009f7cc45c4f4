"""Column lineage with sqlglot (issue 16 item 3): through joins, aggregates, CTEs, SELECT *,
window functions, UNION and the statements of a script, and as OpenLineage facets."""

from __future__ import annotations

from headrace.domain.lineage import column_lineage_facets, step_lineage, version_lineage
from headrace.domain.pipeline import DataTransform, Step

SALES = ["sale_id", "amount", "cust", "day"]
CUSTOMERS = ["id", "name"]


def edges(query: str, outputs: list[str]) -> set[tuple[str, str, str]]:
    step = Step("s", DataTransform(query, ("sales", "customers"), ("out",)))
    found = step_lineage(step, {"sales": SALES, "customers": CUSTOMERS}, {"out": outputs})
    assert all(e["to"]["dataset"] == "out" and e["step"] == "s" for e in found)
    return {(e["to"]["column"], e["from"]["dataset"], e["from"]["column"]) for e in found}


def test_a_join_with_an_aggregate() -> None:
    query = (
        "SELECT c.name, sum(s.amount) AS total, count(*) AS n FROM sales s "
        "JOIN customers c ON s.cust = c.id GROUP BY c.name"
    )
    assert edges(query, ["name", "total", "n"]) == {
        ("name", "customers", "name"),
        ("total", "sales", "amount"),
    }


def test_star_cte_window_and_union() -> None:
    assert edges("SELECT * FROM customers", CUSTOMERS) == {
        ("id", "customers", "id"),
        ("name", "customers", "name"),
    }
    cte = "WITH t AS (SELECT amount * 2 AS x, day FROM sales) SELECT x, day FROM t"
    assert edges(cte, ["x", "day"]) == {("x", "sales", "amount"), ("day", "sales", "day")}
    window = "SELECT sale_id, rank() OVER (PARTITION BY cust ORDER BY amount) AS r FROM sales"
    assert edges(window, ["sale_id", "r"]) == {
        ("sale_id", "sales", "sale_id"),
        ("r", "sales", "cust"),
        ("r", "sales", "amount"),
    }
    union = "SELECT sale_id AS k FROM sales UNION ALL SELECT id FROM customers"
    assert edges(union, ["k"]) == {("k", "sales", "sale_id"), ("k", "customers", "id")}
    assert edges("SELECT range AS n FROM range(3)", ["n"]) == set()  # no dataset behind it


def test_through_a_whole_pipeline_and_a_script() -> None:
    steps = [
        Step(
            "daily",
            DataTransform(
                "SELECT day, sum(amount) AS total FROM sales GROUP BY day", ("sales",), ("daily",)
            ),
        ),
        Step(
            "split",
            DataTransform(
                "CREATE TABLE hi AS SELECT day, total FROM daily WHERE total > 9;\n"
                "CREATE TABLE top AS SELECT max(total) AS best FROM hi",
                ("daily",),
                ("hi", "top"),
            ),
        ),
    ]
    schemas = {
        "daily": {"daily": [{"name": "day", "type": "DATE"}, {"name": "total", "type": "DOUBLE"}]},
        "split": {
            "hi": [{"name": "day", "type": "DATE"}, {"name": "total", "type": "DOUBLE"}],
            "top": [{"name": "best", "type": "DOUBLE"}],
        },
    }
    found = version_lineage(steps, {"sales": SALES}, schemas)
    flat = {
        (
            e["step"],
            e["from"]["dataset"],
            e["from"]["column"],
            e["to"]["dataset"],
            e["to"]["column"],
        )
        for edges_ in found.values()
        for e in edges_
    }
    assert flat == {
        ("daily", "sales", "day", "daily", "day"),
        ("daily", "sales", "amount", "daily", "total"),
        ("split", "daily", "day", "hi", "day"),
        ("split", "daily", "total", "hi", "total"),
        ("split", "hi", "total", "top", "best"),
    }
    facets = column_lineage_facets(found["split"], "headrace://org")
    assert facets["top"] == {
        "fields": {
            "best": {
                "inputFields": [{"namespace": "headrace://org", "name": "hi", "field": "total"}]
            }
        }
    }


def test_a_step_whose_columns_are_not_known_has_no_edges() -> None:
    step = Step("later", DataTransform("SELECT x FROM upcoming", ("upcoming",), ("o",)))
    assert version_lineage([step], {}, {}) == {"later": []}
