"""schemathesis aimed at this app: its own ``/openapi.json``, an admin key, the checks that
must hold.

Every built-in check runs except ``positive_data_acceptance``, which expects each request that
fits the schema to succeed: the schema cannot say that a step's SQL must parse, that a cursor
must be one the API gave out or that a dataset name may hold only some characters, so those
are 422s by design. The others include: no 5xx, every status and content type documented,
every body and declared header as documented, invalid input refused, a request without the
key refused (``ignored_auth``), a deleted object gone (``use_after_free``) and a created one
found (``ensure_resource_availability``).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation, BaseSchema

from tests.api.org_objects import Objects
from tests.factories import Api


def _known_values(org_id: str, objects: Objects) -> dict[str, Any]:
    """Config that puts values the API accepts into half the generated requests, so they reach
    past the 404, 403 or 422 into the code behind: the ids of real objects, the key's own
    organisation in Current-Org-Id, the name of a real dataset, a query that parses."""
    values: dict[str, list[str]] = {
        f"path.{name}": [value] for name, value in objects.params().items()
    }
    values["header.Current-Org-Id"] = [org_id]
    values["body.dataset_name"] = [objects.dataset_name, "fuzzed"]  # upsert
    values["body.name"] = [objects.dataset_name, "fuzzed"]  # upload; pipelines, keys
    values["body.row_unique_identifier"] = ["id"]
    values["body.steps[*].config.query"] = ["SELECT 1 AS n"]
    return {
        "dictionaries": {where: {"values": known} for where, known in values.items()},
        "parameters": {where: {"dictionary": where, "probability": 0.5} for where in values},
    }


def load(app: Any, api: Api, objects: Objects) -> BaseSchema:
    """The app's schema as schemathesis sees it, every call made with ``api``'s key."""
    config = SchemathesisConfig.from_dict(
        {
            **_known_values(api.org_id, objects),
            "auth": {"openapi": {"HTTPBearer": {"bearer": api.key}}},
            "generation": {"database": "none", "with-security-parameters": False},
            "checks": {"positive_data_acceptance": {"enabled": False}},
            # A run's event stream ends only with the run: keep the first event (the whole
            # run), and give up on a stream that sends nothing for a while.
            "max-stream-events": 1,
            "request-timeout": 10,
        }
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


def operations(schema: BaseSchema) -> list[APIOperation[Any, Any, Any, Any]]:
    """Every operation, the ones that delete last (so the others still find real objects)."""
    found = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        found.append(result.ok())
    return sorted(found, key=lambda op: op.method.upper() == "DELETE")


def takes_input(operation: APIOperation[Any, Any, Any, Any]) -> bool:
    """Whether there is anything to make invalid (else negative generation has no cases)."""
    parts = (operation.path_parameters, operation.query, operation.headers, operation.body)
    return any(len(part) for part in parts)


def hypothesis_settings(max_examples: int) -> settings:
    """No deadline or example database: calls share two cores with other tests, and the
    bounded form must not depend on what an earlier run found."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
