"""Validators built from the vendored Argo contracts in tests/execution/argo/contracts/.

Strict mode, as shared/argo/README.md recommends: every object definition with properties and
no ``additionalProperties`` gets ``additionalProperties: false``, so a misspelled key fails.
References resolve inside the one document; nothing is fetched.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

CONTRACTS = Path(__file__).resolve().parent / "contracts"
SWAGGER = CONTRACTS / "argo-swagger.json"
# The Workflow JSON Schema: shared/argo/schema.json, copied here (see README.md there).
SCHEMA = CONTRACTS / "argo-workflow-schema.json"


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@cache
def swagger() -> dict[str, Any]:
    return _load(SWAGGER)


@cache
def workflow_schema() -> dict[str, Any]:
    return _load(SCHEMA)


def _strict(definitions: dict[str, Any]) -> dict[str, Any]:
    strict = copy.deepcopy(definitions)
    for definition in strict.values():
        if (
            definition.get("type") == "object"
            and "properties" in definition
            and "additionalProperties" not in definition
        ):
            definition["additionalProperties"] = False
    return strict


@cache
def _strict_swagger_definitions() -> dict[str, Any]:
    return _strict(swagger()["definitions"])


@cache
def _strict_schema_definitions() -> dict[str, Any]:
    return _strict(workflow_schema()["definitions"])


@cache
def _swagger_validator(definition: str) -> jsonschema.Draft4Validator:
    root = {"definitions": _strict_swagger_definitions(), "$ref": f"#/definitions/{definition}"}
    return jsonschema.Draft4Validator(root)


@cache
def _workflow_validator() -> jsonschema.Draft202012Validator:
    root = {
        "definitions": _strict_schema_definitions(),
        "$ref": "#/definitions/io.argoproj.workflow.v1alpha1.Workflow",
    }
    return jsonschema.Draft202012Validator(root)


def swagger_errors(definition: str, document: object) -> list[str]:
    """Problems of ``document`` as the swagger ``definition`` (Swagger 2 schemas: draft 4)."""
    validator = _swagger_validator(definition)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def workflow_errors(document: object) -> list[str]:
    """Problems of ``document`` as a Workflow under schema.json (draft 2020-12), strict."""
    validator = _workflow_validator()
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(document)
    ]
