"""Map every error to the one JSON shape ``{detail, code, errors}``: ours, FastAPI's
validation errors, Starlette's 404/405, and anything unexpected (500, logged)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
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


def error_body(detail: str, code: str, errors: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"detail": detail, "code": code, "errors": list(errors)}


def error_response(exc: HeadraceError) -> JSONResponse:
    """The response to one of our errors (also sent by middleware, outside the routes)."""
    errors = [{"loc": list(p.loc), "msg": p.msg, "type": p.type} for p in exc.problems]
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse(error_body(exc.detail, exc.code, errors), exc.status, headers=headers)


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
    return JSONResponse(error_body(detail, "invalid_input", errors), 422)


def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI answers a JSON body that is not UTF-8 with a bare 400, one that is not JSON
        # with a located 422: both are invalid input.
        return _not_utf8(exc.__cause__)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSONResponse(error_body(detail, code), exc.status_code, headers=exc.headers)


def _not_utf8(cause: UnicodeDecodeError) -> JSONResponse:
    problem = {"loc": ["body"], "msg": f"not UTF-8: {cause}", "type": "json_invalid"}
    detail = "the request is not valid: body: the JSON body is not UTF-8"
    return JSONResponse(error_body(detail, "invalid_input", [problem]), 422)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("an internal error occurred", "internal_error"), 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HeadraceError, _ours)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
