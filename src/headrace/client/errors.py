"""What the client raises: one type for every 4xx/5xx answer, one for an unreachable server."""

from __future__ import annotations

import contextlib
from typing import Any

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
        return f"{self.detail} ({self.status} {self.code})"

    @classmethod
    def of(cls, response: httpx.Response) -> HeadraceApiError:
        """Parse the error body; a body that is not ours (a proxy's page) still gives a
        readable detail and a ``http_<status>`` code."""
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


class ServerUnreachable(HeadraceClientError):
    """No answer at all (connection refused, DNS, timeout), after the retries."""
