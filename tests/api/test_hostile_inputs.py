"""Hostile client, inputs: what a probe sent that the API answered with a 500, or took when
it should not have (issue 21 items 5 and 7). Each is a 4xx in the one error shape now."""

from __future__ import annotations

from tests.api.test_bad_uploads import check_error_shape
from tests.conftest import new_name
from tests.factories import Api

INJECTED_KEY = "`id` = 1 OR 1=1 --"


def test_an_upsert_key_named_like_sql_is_refused_not_a_500(api: Api) -> None:
    name = new_name("d")
    rows = [{INJECTED_KEY: 1, "v": "a"}, {INJECTED_KEY: 2, "v": "b"}]
    for _ in range(2):  # the second would merge into the first
        r = api.put(
            "/datasets/upsert/",
            json={"dataset_name": name, "row_unique_identifier": INJECTED_KEY, "data": rows},
        )
        body = check_error_shape(r, 422)
        assert body["errors"][0]["loc"] == ["body", "row_unique_identifier"], body
    # a field named so (not the key) cannot be merged either
    r = api.put(
        "/datasets/upsert/",
        json={"dataset_name": name, "row_unique_identifier": "id", "data": [{"id": 1, "a`b": 2}]},
    )
    body = check_error_shape(r, 422)
    assert body["errors"] == [
        {
            "loc": ["body", "data", 0, "a`b"],
            "msg": body["errors"][0]["msg"],
            "type": "name.unmergeable",
        }
    ]
    # other odd names merge fine
    odd = 'k "quoted" -- x'
    for rows in ([{odd: 1, "v": "a"}], [{odd: 1, "v": "b"}, {odd: 2, "v": "c"}]):
        r = api.put(
            "/datasets/upsert/",
            json={"dataset_name": name, "row_unique_identifier": odd, "data": rows},
        )
        assert r.status_code == 200, r.text
    assert r.json()["row_count"] == 2
