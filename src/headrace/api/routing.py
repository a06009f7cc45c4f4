"""A router whose every path answers with and without its trailing slash, without redirects."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


class SlashRouter(APIRouter):
    """Registers ``/x/`` as documented and ``/x`` as a hidden twin of the same endpoint."""

    # FastAPI spells out two dozen keyword parameters; all of them pass through unchanged.
    def api_route(  # type: ignore[override]
        self, path: str, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        documented = super().api_route(path, **kwargs)
        if not path.endswith("/"):
            return documented
        twin_kwargs = {**kwargs, "include_in_schema": False}
        twin_kwargs.pop("operation_id", None)
        twin = super().api_route(path.rstrip("/") or "/", **twin_kwargs)

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            twin(func)
            return documented(func)

        return register
