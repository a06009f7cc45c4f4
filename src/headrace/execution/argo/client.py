"""A small client of the Argo Server REST API (``/api/v1/workflows``), over httpx.

Bearer-token auth, TLS verified by default, explicit timeouts, and retries with exponential
backoff on what is worth retrying: connection errors and timeouts, 5xx, and 429 (honouring
``Retry-After``). A 4xx other than 429 is an answer, raised as ``ArgoApiError`` at once.
Exhausted retries raise ``ArgoUnavailable`` with one readable sentence.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

from headrace.settings import Settings

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 8.0


class ArgoError(Exception):
    """Anything that went wrong talking to the Argo Server."""


class ArgoUnavailable(ArgoError):
    """No usable answer after every retry: unreachable, timing out, or failing on its side."""


class ArgoApiError(ArgoError):
    """The Argo Server refused the request (a 4xx other than 429)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"the Argo Server answered {status}: {message}")
        self.status = status
        self.message = message


def _error_message(response: httpx.Response) -> str:
    """The ``message`` of a grpc-gateway error body, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return response.text[:200]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class ArgoClient:
    """The Argo Server endpoints headrace uses: create, get, stop and terminate a Workflow."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        verify: bool | ssl.SSLContext = True,
        timeout: httpx.Timeout | None = None,
        retries: int = 4,
        backoff_seconds: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.retries = max(0, retries)
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            verify=verify,
            timeout=timeout or httpx.Timeout(30.0, connect=5.0),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ArgoClient:
        token = settings.argo_token.get_secret_value() if settings.argo_token else None
        if token is None and settings.argo_token_file is not None:
            token = settings.argo_token_file.read_text().strip()
        verify: bool | ssl.SSLContext = settings.argo_verify_tls
        if settings.argo_verify_tls and settings.argo_ca_file is not None:
            verify = ssl.create_default_context(cafile=str(settings.argo_ca_file))
        return cls(
            settings.argo_server_url,
            token=token,
            verify=verify,
            timeout=httpx.Timeout(
                settings.argo_request_timeout_seconds,
                connect=settings.argo_connect_timeout_seconds,
            ),
            retries=settings.argo_retries,
            backoff_seconds=settings.argo_backoff_seconds,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ArgoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints ---------------------------------------------------------------------------

    def create_workflow(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """POST /api/v1/workflows/{namespace}: the created Workflow."""
        return self._request(
            "POST",
            f"/api/v1/workflows/{namespace}",
            json={"namespace": namespace, "workflow": manifest},
        )

    def get_workflow(self, namespace: str, name: str, fields: str | None = None) -> dict[str, Any]:
        """GET /api/v1/workflows/{namespace}/{name}, only ``fields`` when given."""
        params = {"fields": fields} if fields else None
        return self._request("GET", f"/api/v1/workflows/{namespace}/{name}", params=params)

    def stop_workflow(self, namespace: str, name: str, message: str) -> dict[str, Any]:
        """PUT …/stop: no new pods, exit handlers still run; the Workflow ends Failed."""
        return self._request(
            "PUT",
            f"/api/v1/workflows/{namespace}/{name}/stop",
            json={"namespace": namespace, "name": name, "message": message},
        )

    def terminate_workflow(self, namespace: str, name: str) -> dict[str, Any]:
        """PUT …/terminate: stop at once, without exit handlers."""
        return self._request(
            "PUT",
            f"/api/v1/workflows/{namespace}/{name}/terminate",
            json={"namespace": namespace, "name": name},
        )

    # -- transport ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        attempts = self.retries + 1
        problem = ""
        for attempt in range(attempts):
            wait = min(self.backoff_seconds * 2**attempt, MAX_BACKOFF_SECONDS)
            try:
                response = self._http.request(method, path, params=params, json=json)
            except httpx.TransportError as err:
                problem = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            else:
                if response.status_code in RETRY_STATUSES:
                    problem = f"{response.status_code} {_error_message(response)}"
                    wait = _retry_after(response) or wait
                elif response.is_error:
                    raise ArgoApiError(response.status_code, _error_message(response))
                else:
                    body = response.json()
                    if not isinstance(body, dict):
                        raise ArgoUnavailable(
                            f"the Argo Server answered {method} {path} with a non-object body"
                        )
                    return body
            if attempt < attempts - 1:
                self._sleep(min(wait, MAX_BACKOFF_SECONDS))
        raise ArgoUnavailable(
            f"the Argo Server at {self.base_url} is unreachable or failing: {problem} "
            f"({method} {path}, {attempts} attempts)"
        )
