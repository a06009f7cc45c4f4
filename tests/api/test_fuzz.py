"""API fuzzing: schemathesis against the app's own OpenAPI document, with an admin key.

Each operation is fuzzed with schema-valid and schema-invalid requests (``fuzzing.py`` lists
the checks); half of them carry the ids of real objects of the caller's organisation, so that
bodies and queries reach past the 404 into the code that uses them. Then chains of calls
follow the links schemathesis infers between operations (a listed or created object's id
into the operations that take it).

The bounded form (``make test``) tries a few cases per operation; ``make stress`` many.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from schemathesis import Case, GenerationMode

from tests.api import fuzzing
from tests.api.org_objects import make_objects
from tests.factories import Api
from tests.stress import scaled


def _examples(database_url: str, bounded_sqlite: int, bounded_postgres: int, stress: int) -> int:
    return scaled(bounded_sqlite if database_url.startswith("sqlite") else bounded_postgres, stress)


def test_every_operation(
    client: TestClient, api: Api, database_url: str, subtests: pytest.Subtests
) -> None:
    schema = fuzzing.load(client.app, api, make_objects(api))
    examples = _examples(database_url, 3, 1, 100)
    statuses: Counter[int] = Counter()
    ops = fuzzing.operations(schema)
    for op in ops:
        modes = [GenerationMode.POSITIVE]
        if fuzzing.takes_input(op):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            with subtests.test(msg=f"{op.label} ({mode.value})"):

                @given(case=op.as_strategy(generation_mode=mode))
                @fuzzing.hypothesis_settings(examples)
                def fuzz(case: Case[Any]) -> None:
                    statuses[case.call_and_validate().status_code] += 1

                fuzz()
    print(f"\nfuzz {database_url[:8]}: {len(ops)} operations, by status {sorted(statuses.items())}")
    # every operation was called, and some calls got past the checks in front
    assert len(ops) >= 25 and sum(statuses.values()) >= len(ops)
    assert any(200 <= status < 300 for status in statuses)


def test_linked_calls(client: TestClient, api: Api, database_url: str) -> None:
    schema = fuzzing.load(client.app, api, make_objects(api))
    machine = schema.as_state_machine()
    machine.run(settings=fuzzing.hypothesis_settings(_examples(database_url, 3, 1, 100)))
