"""The OpenAPI document declares every answer the API gives, errors included.

FastAPI documents each route's success and a 422 in its own shape (``HTTPValidationError``),
which this API never sends. Here every operation also gets, in the one error shape
(``ErrorBody``), the statuses that follow from what it takes: 401 and 403 where it needs a
key, 404 where its path names an object, 422 where it parses anything, 413 where it takes a
body. Statuses that only some routes answer with (409) are declared on those routes with
``errors(...)``. Every error is served as ``application/problem+json`` (RFC 9457). The
fuzzing suite (``tests/api/test_fuzz.py``) checks every answer against this document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from headrace.api.errors import PROBLEM_JSON
from headrace.schemas.common import ErrorBody

_MEANING = {
    401: "No API key, or one that is unknown or revoked.",
    403: "The key's role is too small, or Current-Org-Id is not the key's organisation.",
    404: "No such object in the key's organisation.",
    409: "Conflicts with the current state; the detail says which.",
    413: "The request body (or its file) is larger than the server accepts.",
    422: "Invalid input: every problem, each with its location.",
    429: "The API key holds as many of these open as the server allows.",
    503: "The server cannot serve this now: it is not set up for it (the detail names the "
    "missing setting), or its metadata store does not answer.",
}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the error statuses that only this route answers with."""
    return {s: {"model": ErrorBody, "description": _MEANING[s]} for s in statuses}


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _MEANING[status],
        "content": {PROBLEM_JSON: {"schema": _ERROR_REF}},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
        }
    return response


def _implied(operation: dict[str, Any]) -> set[int]:
    """The error statuses that follow from what the operation takes."""
    parameters = operation.get("parameters", [])
    statuses = set()
    if operation.get("security"):
        statuses |= {401, 403}
    if any(p["in"] == "path" for p in parameters):
        statuses.add(404)
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses.add(413)
    return statuses


def declare_errors(document: dict[str, Any]) -> None:
    """Give every operation of ``document`` its implied error statuses (in place)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for fastapi_shape in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_shape, None)
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(body.pop("$defs", {}))
    schemas["ErrorBody"] = body
    for item in document["paths"].values():
        for operation in item.values():
            responses = operation["responses"]
            for status in _implied(operation):
                responses[str(status)] = _error(status)
            for status, response in responses.items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")


_LOCATION = {
    "description": "The address of the object created.",
    "required": True,
    "schema": {"type": "string"},
}


def declare_created(document: dict[str, Any]) -> None:
    """Declare the ``Location`` of every 201 (``created.py`` sets it), in place."""
    for item in document["paths"].values():
        for operation in item.values():
            created = operation["responses"].get("201")
            if created is not None:
                created.setdefault("headers", {})["Location"] = _LOCATION


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Any string of yours (a UUID, say): the same request sent again with the same key "
        "within 24 hours gets the first answer and creates nothing; another request with the "
        "same key is a 422, and one sent while the first is in flight a 409."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}


def declare_idempotency(document: dict[str, Any]) -> None:
    """Give every POST the ``Idempotency-Key`` header and its 409 (``idempotency.py``)."""
    for item in document["paths"].values():
        operation = item.get("post")
        if operation is not None:
            operation.setdefault("parameters", []).append(_IDEMPOTENCY_KEY)
            operation["responses"].setdefault("409", _error(409))


def install(app: FastAPI) -> None:
    """Serve FastAPI's document with the errors declared (built once, on first request)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()  # FastAPI keeps it as app.openapi_schema
        declare_idempotency(document)
        declare_errors(document)
        declare_created(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
