"""What the client raises: ``HeadraceApiError`` for every 4xx/5xx answer, a subclass by kind
(``NotFoundError``, ``ConflictError``, ``InvalidInputError``, ``AuthenticationError``,
``PermissionDeniedError``, ``RateLimitError``, ...) so callers catch what they handle, and
``ServerUnreachable`` when there was no answer at all."""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import re
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from headrace.schemas.common import ErrorItem


class HeadraceClientError(Exception):
    """Base of everything the client raises on purpose."""


class HeadraceApiError(HeadraceClientError):
    """The server answered with a 4xx or 5xx: its ``{detail, code, errors}`` body, parsed."""

    def __init__(
        self, status: int, code: str, detail: str, errors: list[ErrorItem], method: str, url: str
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.method = method
        self.url = url

    def __str__(self) -> str:
        return f"{self.message()} ({self.status} {self.code})"

    def message(self) -> str:
        """The detail and every problem with its location, each said once: the server's
        detail often repeats its first problem (``the request is not valid: body.file:
        Field required``), so that repetition is dropped from the detail, not the problem."""
        return describe(self.detail, self.errors)

    @property
    def problems(self) -> list[ErrorItem]:
        """Every problem the server listed, each with its location."""
        return self.errors

    @classmethod
    def of(cls, response: httpx.Response) -> HeadraceApiError:
        """Parse the error body into the error class of its status; a body that is not ours
        (a proxy's page) still gives a readable detail and a ``http_<status>`` code."""
        kind = _BY_STATUS.get(response.status_code)
        if kind is None:
            kind = ServerError if response.status_code >= 500 else HeadraceApiError
        error = kind._parse(response)
        if isinstance(error, RateLimitError):
            error.retry_after = retry_after(response)
        return error

    @classmethod
    def _parse(cls, response: httpx.Response) -> HeadraceApiError:
        body: Any = None
        with contextlib.suppress(ValueError):
            body = response.json()
        request = response.request
        if isinstance(body, dict) and isinstance(body.get("detail"), str):
            errors = [
                ErrorItem.model_validate(e) for e in body.get("errors") or [] if isinstance(e, dict)
            ]
            code = str(body.get("code") or f"http_{response.status_code}")
            return cls(
                response.status_code, code, body["detail"], errors, request.method, str(request.url)
            )
        text = response.text.strip().splitlines()
        detail = (text[0][:200] if text else "") or response.reason_phrase or "error"
        return cls(
            response.status_code,
            f"http_{response.status_code}",
            detail,
            [],
            request.method,
            str(request.url),
        )


class AuthenticationError(HeadraceApiError):
    """401: no API key, or one that is unknown or revoked."""


class PermissionDeniedError(HeadraceApiError):
    """403: the key's role may not do this, or the organisation is not the key's."""


class NotFoundError(HeadraceApiError):
    """404: no such object in the key's organisation."""


class ConflictError(HeadraceApiError):
    """409: the request conflicts with the current state (a name taken, a run ended)."""


class PayloadTooLargeError(HeadraceApiError):
    """413: the body or file is larger than the server accepts, or past the storage quota."""


class InvalidInputError(HeadraceApiError):
    """422: the input has problems; ``problems`` lists every one with its location."""


class RateLimitError(HeadraceApiError):
    """429: too many at once; ``retry_after`` is the wait the server asked for, if any."""

    retry_after: float | None = None


class ServerError(HeadraceApiError):
    """5xx: the server failed or is unavailable; not the request's fault."""


_BY_STATUS: dict[int, type[HeadraceApiError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: InvalidInputError,
    429: RateLimitError,
}


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` of an answer in seconds (given as seconds or as an HTTP date),
    or None when there is none or it cannot be read."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


class ServerUnreachable(HeadraceClientError):
    """No answer at all (connection refused, DNS, timeout), after the retries."""


class Located(Protocol):
    """A problem as the server sends it (``ErrorItem``) or as the service raises it."""

    @property
    def loc(self) -> Sequence[str | int]: ...

    @property
    def msg(self) -> str: ...


# What the server appends to a detail that names only its first problem.
_MORE = re.compile(r"\s*\(and \d+ more problem\(s\)\)$")


def where(loc: Sequence[str | int]) -> str:
    """A problem's location as the user wrote it: ``steps.clean.config.query``, ``file``
    (the ``body`` every request field sits in is left out)."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    return ".".join(str(part) for part in parts)


def _head(detail: str, errors: Sequence[Located]) -> str:
    """The detail without the problem it repeats at its end (and that problem's location)."""
    text = _MORE.sub("", detail)
    for error in errors:
        if error.msg and text.endswith(error.msg):
            text = text[: -len(error.msg)].rstrip().removesuffix(":").rstrip()
            for loc in (".".join(str(x) for x in error.loc), where(error.loc)):
                if loc and text.endswith(loc):
                    text = text[: -len(loc)].rstrip().removesuffix(":").rstrip()
            return text
    return detail


def describe(detail: str, errors: Sequence[Located]) -> str:
    """One line: the detail, then each problem once as ``location: message``."""
    problems = [f"{w}: {e.msg}" if (w := where(e.loc)) else e.msg for e in errors]
    if not problems:
        return detail
    head = _head(detail, errors)
    return "; ".join(problems) if not head else f"{head}: {'; '.join(problems)}"
