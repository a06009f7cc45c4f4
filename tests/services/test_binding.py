"""Schema-aware saving (issue 16 item 2), over HTTP on both stores: each step's SQL bound
with DuckDB's binder against its inputs' schemas, every problem in one 422, inputs that do
not exist yet as warnings, and the inferred columns stored on the version."""

from __future__ import annotations

from headrace.runtime import Runtime
from tests.execution.support import write_dataset
from tests.factories import Api, make_step

SALES = "SELECT 1::BIGINT AS sale_id, 2.5::DOUBLE AS amount, DATE '2024-01-01' AS day"


def test_three_wrong_columns_in_two_steps_are_three_problems_in_one_422(
    api: Api, runtime: Runtime
) -> None:
    write_dataset(api, runtime, "sales", SALES)
    steps = [
        make_step("clean", "SELECT sale_idd AS id, amout, day FROM sales", ["sales"], ["clean"]),
        make_step("total", "SELECT id, sum(amnt) AS s\nFROM clean GROUP BY id", ["clean"], ["t"]),
    ]
    r = api.post("/pipelines/", json={"name": "wrong", "steps": steps})
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["steps", "clean", "config", "query"], "sql.unknown_column"),
        (["steps", "clean", "config", "query"], "sql.unknown_column"),
        (["steps", "total", "config", "query"], "sql.unknown_column"),
    ]
    first, second, third = (e["msg"] for e in errors)
    assert "unknown column 'sale_idd'" in first and "did you mean 'sale_id'?" in first
    assert "LINE 1: SELECT sale_idd AS id" in first
    assert "unknown column 'amout'" in second and "did you mean 'amount'?" in second
    assert "unknown column 'amnt'" in third and "LINE 1: SELECT id, sum(amnt) AS s" in third
    for e in errors:
        assert "__headrace" not in e["msg"] and "DESCRIBE" not in e["msg"]
    assert "wrong" not in {p["name"] for p in api.get("/pipelines/").json()}  # nothing saved


def test_type_errors_and_scripts_are_bound_too(api: Api, runtime: Runtime) -> None:
    write_dataset(api, runtime, "sales", SALES)
    steps = [
        make_step("typed", "SELECT sale_id + day AS x FROM sales", ["sales"], ["typed"]),
        make_step(
            "split",
            "CREATE TABLE small AS SELECT sale_id FROM sales WHERE amount < 10;\n"
            "CREATE TABLE big AS SELECT sale_id, amountt FROM sales WHERE amount >= 10",
            ["sales"],
            ["small", "big"],
        ),
    ]
    r = api.post("/pipelines/", json={"name": "typed", "steps": steps})
    assert r.status_code == 422, r.text
    found = {(e["loc"][1], e["type"]): e["msg"] for e in r.json()["errors"]}
    assert "No function matches" in found[("typed", "sql.type_error")]
    assert (
        "LINE 2: CREATE TABLE big AS SELECT sale_id, amountt"
        in found[("split", "sql.unknown_column")]
    )


def test_the_inferred_columns_are_stored_on_the_version(api: Api, runtime: Runtime) -> None:
    write_dataset(api, runtime, "sales", SALES)
    steps = [
        make_step(
            "daily",
            "SELECT day, sum(amount) AS total FROM sales GROUP BY day",
            ["sales"],
            ["daily"],
        ),
        make_step("top", "SELECT *, total > $floor AS big FROM daily", ["daily"], ["top"]),
        make_step(
            "parts",
            "CREATE TABLE p1 AS SELECT day FROM top; CREATE TABLE p2 AS SELECT big FROM top",
            ["top"],
            ["p1", "p2"],
        ),
    ]
    body = {
        "name": "inferred",
        "steps": steps,
        "parameters": [{"name": "floor", "type": "number", "default": 1}],
    }
    r = api.post("/pipelines/", json=body)
    assert r.status_code == 201, r.text
    version = r.json()["current_version"]
    assert "warnings" not in version
    assert version["output_schemas"] == {
        "daily": {"daily": [{"name": "day", "type": "DATE"}, {"name": "total", "type": "DOUBLE"}]},
        "top": {
            "top": [
                {"name": "day", "type": "DATE"},
                {"name": "total", "type": "DOUBLE"},
                {"name": "big", "type": "BOOLEAN"},
            ]
        },
        "parts": {
            "p1": [{"name": "day", "type": "DATE"}],
            "p2": [{"name": "big", "type": "BOOLEAN"}],
        },
    }
    again = api.get(f"/pipelines/{r.json()['id']}/versions/{version['id']}/").json()
    assert again["output_schemas"] == version["output_schemas"]


def test_inputs_that_do_not_exist_yet_are_warnings(api: Api) -> None:
    steps = [
        make_step("later", "SELECT whatever FROM upcoming", ["upcoming"], ["later"]),
        make_step("below", "SELECT anything FROM later", ["later"], ["below"]),
        make_step("own", "SELECT range AS n FROM range(3)", [], ["own"]),
        make_step("wrong", "SELECT m FROM own", ["own"], ["wrong"]),
    ]
    r = api.post("/pipelines/", json={"name": "ahead", "steps": steps})
    assert r.status_code == 422, r.text
    assert [(e["loc"][1], e["type"]) for e in r.json()["errors"]] == [
        ("wrong", "sql.unknown_column")
    ]
    del steps[3]
    r = api.post("/pipelines/", json={"name": "ahead", "steps": steps})
    assert r.status_code == 201, r.text
    version = r.json()["current_version"]
    assert version["warnings"] == [
        {
            "loc": ["steps", "later", "config", "input_datasets", 0],
            "msg": "dataset 'upcoming' does not exist yet, so the step's SQL was not checked "
            "against its columns",
            "type": "dataset.not_found",
        }
    ]
    assert version["output_schemas"] == {"own": {"own": [{"name": "n", "type": "BIGINT"}]}}
    # a new version is bound the same way
    pid = r.json()["id"]
    bad = [make_step("own", "SELECT nn FROM range(3) t(n)", [], ["own"])]
    r = api.post(f"/pipelines/{pid}/versions/", json={"steps": bad})
    assert r.status_code == 422, r.text
    assert "did you mean 'n'?" in r.json()["errors"][0]["msg"]


def test_a_constant_too_large_to_bind_is_saved_unchecked_with_a_warning(api: Api) -> None:
    """DuckDB builds constant expressions while it binds; binding runs in a step process
    under its own limits, so such a version is saved (its SQL meets the step's limits when
    it runs) and the server is not held."""
    bomb = make_step("bomb", "SELECT length(lpad('x', 1000000000, 'y')) AS n", [], ["b"])
    r = api.post("/pipelines/", json={"name": "bomb", "steps": [bomb]})
    assert r.status_code == 201, r.text
    version = r.json()["current_version"]
    assert [w["type"] for w in version["warnings"]] == ["sql.not_checked"]
    assert version["output_schemas"] == {}
