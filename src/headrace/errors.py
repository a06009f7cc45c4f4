"""The one error tree of headrace: each error carries its HTTP status and a stable code.

Services raise these; ``api/errors.py`` turns them into the single JSON error shape.
"""

from __future__ import annotations

from collections.abc import Sequence

from headrace.domain.problems import Problem


class HeadraceError(Exception):
    """Base of every error a client can be told about."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, detail: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = list(problems)


class Unauthorized(HeadraceError):
    status = 401
    code = "unauthorized"


class Forbidden(HeadraceError):
    status = 403
    code = "forbidden"


class NotFound(HeadraceError):
    status = 404
    code = "not_found"


class Conflict(HeadraceError):
    status = 409
    code = "conflict"


class PayloadTooLarge(HeadraceError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(HeadraceError):
    status = 429
    code = "too_many_requests"


class InvalidInput(HeadraceError):
    """422: every problem with the client's input, each located."""

    status = 422
    code = "invalid_input"


class SystemFailure(HeadraceError):
    """Our side failed (storage, executor); never the client's fault."""

    status = 500
    code = "system_failure"


class Unavailable(HeadraceError):
    """503: the server is not set up for what was asked (a setting is missing), or a part
    it needs (the metadata store) does not answer now."""

    status = 503
    code = "unavailable"
