"""Map every error to the one JSON shape ``{type, title, status, detail, code, errors}``
(RFC 9457's problem details, ``application/problem+json``): ours, FastAPI's validation errors,
Starlette's 404/405, and anything unexpected (500, logged)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from headrace.errors import HeadraceError, Unauthorized

log = logging.getLogger("headrace.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


PROBLEM_JSON = "application/problem+json"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(
    status: int,
    detail: str,
    code: str,
    errors: Sequence[dict[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The one error response: every error of the API is made here."""
    body = {
        "type": "about:blank",
        "title": _title(status),
        "status": status,
        "detail": detail,
        "code": code,
        "errors": list(errors),
    }
    return JSONResponse(body, status, headers=headers, media_type=PROBLEM_JSON)


def error_response(exc: HeadraceError) -> JSONResponse:
    """The response to one of our errors (also sent by middleware, outside the routes)."""
    errors = [{"loc": list(p.loc), "msg": p.msg, "type": p.type} for p in exc.problems]
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return problem(exc.status, exc.detail, exc.code, errors, headers)


def _ours(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HeadraceError)
    return error_response(exc)


def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "loc": [str(x) if not isinstance(x, int) else x for x in e["loc"]],
            "msg": e["msg"],
            "type": e["type"],
        }
        for e in exc.errors()
    ]
    first = errors[0] if errors else None
    where = ".".join(str(x) for x in first["loc"]) if first else ""
    detail = (
        f"the request is not valid: {where}: {first['msg']}"
        if first
        else "the request is not valid"
    )
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problem(s))"
    return problem(422, detail, "invalid_input", errors)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI answers a JSON body that is not UTF-8 with a bare 400, one that is not JSON
        # with a located 422: both are invalid input.
        return _not_utf8(exc.__cause__)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return problem(exc.status_code, detail, code, headers=exc.headers)


def _not_utf8(cause: UnicodeDecodeError) -> JSONResponse:
    located = {"loc": ["body"], "msg": f"not UTF-8: {cause}", "type": "json_invalid"}
    detail = "the request is not valid: body: the JSON body is not UTF-8"
    return problem(422, detail, "invalid_input", [located])


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "an internal error occurred", "internal_error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(HeadraceError, _ours)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
