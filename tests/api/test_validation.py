"""Validation of pipeline bodies: every problem, located by step and field, in one 422."""

from __future__ import annotations

from typing import Any

from tests.factories import Api, make_pipeline, make_step


def _problems(api: Api, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = api.post("/pipelines/", json={"name": "v", "steps": steps})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "invalid_input"
    assert body["detail"]
    errors: list[dict[str, Any]] = body["errors"]
    assert errors
    return errors


def _types(errors: list[dict[str, Any]]) -> set[str]:
    return {e["type"] for e in errors}


def test_duplicate_step_names(api: Api) -> None:
    errors = _problems(
        api, [make_step("a", "SELECT 1", [], ["x"]), make_step("a", "SELECT 2", [], ["y"])]
    )
    assert errors == [
        {
            "loc": ["steps", "a", "name"],
            "msg": "step name 'a' is used more than once",
            "type": "step.duplicate_name",
        }
    ]


def test_dataset_written_by_two_steps(api: Api) -> None:
    errors = _problems(
        api, [make_step("a", "SELECT 1", [], ["x"]), make_step("b", "SELECT 2", [], ["x"])]
    )
    assert len(errors) == 1
    assert errors[0]["loc"] == ["steps", "b", "config", "output_datasets"]
    assert errors[0]["type"] == "datasets.two_writers"
    assert "'a'" in errors[0]["msg"]


def test_cycle_names_its_steps(api: Api) -> None:
    errors = _problems(
        api,
        [
            make_step("a", "SELECT * FROM z", ["z"], ["x"]),
            make_step("b", "SELECT * FROM x", ["x"], ["y"]),
            make_step("c", "SELECT * FROM y", ["y"], ["z"]),
            make_step("free", "SELECT 1", [], ["w"]),
        ],
    )
    assert _types(errors) == {"steps.cycle"}
    msg = errors[0]["msg"]
    for name in ("a", "b", "c"):
        assert f"{name} ->" in msg or f"-> {name}" in msg
    assert "free" not in msg


# Each list below goes in one request, one step per query, so one 422 must locate them all.
UNPARSABLE = {
    "": "sql.empty",
    "   \n ": "sql.empty",
    ";": "sql.empty",
    "SELEC 1": "sql.parse",
    "SELECT * FROM": "sql.parse",
    "SELECT": "sql.parse",
}

UNDECLARED = [
    "SELECT * FROM secret",
    "SELECT * FROM orders JOIN secret USING (id)",
    "SELECT * FROM orders WHERE id IN (SELECT id FROM secret)",
    # the CTE shadows `secret` in the outer query, but the real table is read inside the CTE
    "WITH secret AS (SELECT * FROM secret) SELECT * FROM secret",
    # a CTE shadows `secret` in one subquery; another scope reads the real table
    "SELECT * FROM (WITH secret AS (SELECT 1 AS id) SELECT * FROM secret) s, secret",
    "SELECT (WITH secret AS (SELECT 1) SELECT count(*) FROM secret) AS a, "
    "(SELECT count(*) FROM secret) AS b FROM orders",
]

ALLOWED = [
    "WITH orders AS (SELECT 1 AS id) SELECT * FROM orders",
    "WITH t AS (SELECT * FROM orders) SELECT * FROM t WHERE id IN (SELECT id FROM t)",
    "SELECT range AS n FROM range(3)",
    "SELECT * FROM generate_series(1, 3)",
    "SELECT unnest([1, 2, 3]) AS n",
    "SELECT * FROM unnest([1, 2, 3])",
    "FROM orders",
]

FORBIDDEN = {
    "SELECT * FROM read_csv('/etc/passwd')": "sql.forbidden_function",
    "SELECT * FROM read_csv_auto('x.csv')": "sql.forbidden_function",
    "SELECT * FROM read_parquet('s3://b/x.parquet')": "sql.forbidden_function",
    "SELECT * FROM read_json('x.json')": "sql.forbidden_function",
    "SELECT * FROM parquet_scan('x')": "sql.forbidden_function",
    "SELECT * FROM glob('/*')": "sql.forbidden_function",
    "SELECT * FROM query('SELECT 1')": "sql.forbidden_function",
    "SELECT * FROM query_table('orders')": "sql.forbidden_function",
    "SELECT getenv('HOME') AS h": "sql.forbidden_function",
    "SELECT current_setting('threads') AS t": "sql.forbidden_function",
    "SELECT * FROM duckdb_settings()": "sql.forbidden_function",
    "SELECT * FROM sqlite_scan('x.db', 't')": "sql.forbidden_function",
    "SELECT * FROM 'file.csv'": "sql.undeclared_input",
    "SELECT * FROM 'https://example.com/x.csv'": "sql.undeclared_input",
    "SELECT * FROM orders JOIN '/tmp/x.parquet' USING (id)": "sql.undeclared_input",
    "SELECT * FROM main.orders": "sql.qualified_table",
    "ATTACH 'x.db' AS x": "sql.forbidden_statement",
    "COPY (SELECT 1) TO 'x.csv'": "sql.forbidden_statement",
    "INSTALL httpfs": "sql.forbidden_statement",
    "LOAD httpfs": "sql.forbidden_statement",
    "SET memory_limit = '1GB'": "sql.forbidden_statement",
    "PRAGMA version": "sql.forbidden_statement",
    "CALL pragma_version()": "sql.forbidden_statement",
    "DETACH x": "sql.forbidden_statement",
    "CREATE TABLE out AS SELECT 1": "sql.forbidden_statement",
    "SELECT 1; SELECT 2": "sql.statement_count",
    "SELECT * FROM orders; ATTACH 'x.db'": "sql.statement_count",
    "SELECT * FROM orders AS o JOIN orders AS o USING (id)": "sql.invalid",
}


def _one_step_per_query(queries: list[str], inputs: list[str]) -> list[dict[str, Any]]:
    return [make_step(f"s{i}", q, inputs, [f"out{i}"]) for i, q in enumerate(queries)]


def _by_step(errors: list[dict[str, Any]]) -> dict[object, set[tuple[str, ...]]]:
    found: dict[object, set[tuple[str, ...]]] = {}
    for e in errors:
        found.setdefault(e["loc"][1], set()).add((*map(str, e["loc"][2:]), e["type"]))
    return found


def test_empty_or_unparsable_queries(api: Api) -> None:
    queries = list(UNPARSABLE)
    found = _by_step(_problems(api, _one_step_per_query(queries, [])))
    assert found == {f"s{i}": {("config", "query", UNPARSABLE[q])} for i, q in enumerate(queries)}


def test_queries_reading_undeclared_tables(api: Api) -> None:
    errors = _problems(api, _one_step_per_query(UNDECLARED, ["orders"]))
    found = _by_step(errors)
    assert found == {
        f"s{i}": {("config", "query", "sql.undeclared_input")} for i in range(len(UNDECLARED))
    }
    assert all("'secret'" in e["msg"] for e in errors)


def test_allowed_queries(api: Api) -> None:
    steps = [
        make_step("src", "SELECT 1 AS id", [], ["orders"]),
        *_one_step_per_query(ALLOWED, ["orders"]),
    ]
    created = make_pipeline(api, steps)["current_version"]["steps"]
    assert [s["config"]["query"] for s in created[1:]] == ALLOWED


def test_file_url_database_and_settings_access(api: Api) -> None:
    queries = list(FORBIDDEN)
    found = _by_step(_problems(api, _one_step_per_query(queries, ["orders"])))
    assert set(found) == {f"s{i}" for i in range(len(queries))}
    for i, query in enumerate(queries):
        assert ("config", "query", FORBIDDEN[query]) in found[f"s{i}"], query
        assert {loc[:2] for loc in found[f"s{i}"]} == {("config", "query")}


def test_several_outputs_need_create_table_each(api: Api) -> None:
    good = make_step(
        "s",
        "CREATE TABLE a AS SELECT 1 AS n; CREATE TABLE b AS SELECT n FROM a",
        [],
        ["a", "b"],
    )
    make_pipeline(api, [good])
    errors = _problems(
        api,
        [make_step("s", "CREATE TABLE a AS SELECT 1 AS n; ATTACH 'x.db' AS y", [], ["a", "b"])],
    )
    assert _types(errors) == {"sql.forbidden_statement", "sql.output_not_created"}


def test_unknown_types_are_reported_with_every_other_problem(api: Api) -> None:
    """An unknown job_type or query_type was a schema error answered alone: the other steps'
    problems (bad SQL, a name used twice, a cycle) were only found once it was fixed."""
    a = make_step("a", "SELECT 1", [], ["x"])
    b = make_step("b", "SELECT 1", [], ["y"])
    a["config"]["job_type"] = "spark"
    b["config"]["query_type"] = "python"
    bad_sql = make_step("c", "SELECT * FROM read_csv('/etc/passwd')", [], ["z"])
    twice = make_step("c", "SELECT 1", [], ["w"])
    loop = [make_step("d", "SELECT * FROM e_out", ["e_out"], ["d_out"])]
    loop.append(make_step("e", "SELECT * FROM d_out", ["d_out"], ["e_out"]))
    errors = _problems(api, [a, b, bad_sql, twice, *loop])
    found = {(tuple(e["loc"]), e["type"]) for e in errors}
    assert found >= {
        (("steps", "a", "config", "job_type"), "step.job_type"),
        (("steps", "b", "config", "query_type"), "step.query_type"),
        (("steps", "c", "name"), "step.duplicate_name"),
        (("steps",), "steps.cycle"),
    }, errors
    assert any(loc == ("steps", "c", "config", "query") for loc, _ in found), errors
    [job] = [e for e in errors if e["type"] == "step.job_type"]
    assert job["msg"] == "job_type 'spark' is not known; use 'data-transform'"
    # the query of a step whose type is unknown is not analysed as SQL
    of_a_and_b = [e["type"] for e in errors if e["loc"][:2] in (["steps", "a"], ["steps", "b"])]
    assert of_a_and_b == ["step.job_type", "step.query_type"], errors


def test_dataset_and_step_names_empty_or_too_long(api: Api) -> None:
    steps = [
        make_step("a", "SELECT 1", [""], ["out_a"]),
        make_step("b", "SELECT 1", ["d" * 256], ["out_b"]),
        make_step("c", "SELECT 1", [], [""]),
        make_step("d", "SELECT 1", [], ["o" * 256]),
        make_step("", "SELECT 1", [], ["out_e"]),
        make_step("s" * 256, "SELECT 1", [], ["out_f"]),
    ]
    found = {(tuple(e["loc"]), e["type"]) for e in _problems(api, steps)}
    assert found == {
        (("steps", "a", "config", "input_datasets", 0), "name.empty"),
        (("steps", "b", "config", "input_datasets", 0), "name.too_long"),
        (("steps", "c", "config", "output_datasets", 0), "name.empty"),
        (("steps", "d", "config", "output_datasets", 0), "name.too_long"),
        (("steps", 4, "name"), "name.empty"),
        (("steps", 5, "name"), "name.too_long"),
    }


def test_name_of_255_characters_is_fine(api: Api) -> None:
    long = "d" * 255
    steps = [make_step("s", "SELECT 1 AS n", [], [long]), make_step("t", f"FROM {long}", [long])]
    make_pipeline(api, steps)


def test_step_without_output(api: Api) -> None:
    errors = _problems(api, [make_step("s", "SELECT 1", [], [])])
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["steps", "s", "config", "output_datasets"], "outputs.empty")
    ]


def test_no_steps(api: Api) -> None:
    assert _types(_problems(api, [])) == {"steps.empty"}


def test_every_problem_in_one_response(api: Api) -> None:
    steps = [
        make_step("dup", "SELECT 1", [], ["a"]),
        make_step("dup", "SELECT 2", [], ["b"]),
        make_step("two", "SELECT 3", [], ["a"]),
        make_step("files", "SELECT * FROM read_csv('x.csv')", [], ["c"]),
        make_step("undeclared", "SELECT * FROM hidden", [], ["d"]),
        make_step("attach", "ATTACH 'x.db'", [], ["e"]),
        make_step("many", "SELECT 1; SELECT 2", [], ["f"]),
        make_step("broken", "SELEC 1", [], ["g"]),
        make_step("empty", "", [], ["h"]),
        make_step("long", "SELECT 1", ["i" * 256], ["j"]),
        make_step("", "SELECT 1", [], ["k"]),
        make_step("c1", "SELECT * FROM y2", ["y2"], ["y1"]),
        make_step("c2", "SELECT * FROM y1", ["y1"], ["y2"]),
    ]
    r = api.post("/pipelines/", json={"name": "", "steps": steps})
    assert r.status_code == 422
    found = {(tuple(e["loc"]), e["type"]) for e in r.json()["errors"]}
    q = "config", "query"
    expected = {
        (("body", "name"), "name.empty"),
        (("steps", "dup", "name"), "step.duplicate_name"),
        (("steps", "two", "config", "output_datasets"), "datasets.two_writers"),
        (("steps", "files", *q), "sql.forbidden_function"),
        (("steps", "undeclared", *q), "sql.undeclared_input"),
        (("steps", "attach", *q), "sql.forbidden_statement"),
        (("steps", "many", *q), "sql.statement_count"),
        (("steps", "broken", *q), "sql.parse"),
        (("steps", "empty", *q), "sql.empty"),
        (("steps", "long", "config", "input_datasets", 0), "name.too_long"),
        (("steps", 10, "name"), "name.empty"),
        (("steps",), "steps.cycle"),
    }
    assert expected <= found, expected - found
    assert len(r.json()["errors"]) == len(found)


def test_new_version_is_validated_like_a_new_pipeline(api: Api) -> None:
    p = make_pipeline(api)
    steps = [
        make_step("a", "SELECT * FROM read_parquet('x')", [], ["x"]),
        make_step("b", "SELECT 2", [], ["x"]),
    ]
    r = api.post(f"/pipelines/{p['id']}/versions/", json={"steps": steps})
    assert r.status_code == 422
    assert {e["type"] for e in r.json()["errors"]} == {
        "sql.forbidden_function",
        "datasets.two_writers",
    }
