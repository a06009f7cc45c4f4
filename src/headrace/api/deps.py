"""Dependencies shared by the routes: services' context, the caller, paging."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from headrace.domain.access import Principal, Role
from headrace.domain.problems import Problem
from headrace.errors import Forbidden, InvalidInput
from headrace.execution.doorbell import Doorbell
from headrace.persistence.db import Database
from headrace.persistence.paging import Keyset
from headrace.runtime import Runtime
from headrace.services import keys
from headrace.settings import Settings

# Declares the Bearer scheme in OpenAPI; the key itself is read below so that the Api-key
# header works as well and a missing key gets our own 401 body.
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <api key>")


async def get_db(request: Request) -> Database:
    # The dependencies that do no I/O are coroutines: FastAPI runs a plain function in its
    # thread pool, and each hop there costs more than the dependency itself.
    db: Database = request.app.state.db
    return db


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_doorbell(request: Request) -> Doorbell:
    doorbell: Doorbell = request.app.state.doorbell
    return doorbell


Db = Annotated[Database, Depends(get_db)]
Bell = Annotated[Doorbell, Depends(get_doorbell)]
Config = Annotated[Settings, Depends(get_settings)]
Rt = Annotated[Runtime, Depends(get_runtime)]


async def get_key_cache(request: Request) -> keys.KeyCache:
    cache: keys.KeyCache = request.app.state.key_cache
    return cache


KeyCache = Annotated[keys.KeyCache, Depends(get_key_cache)]


def key_secret(headers: Mapping[str, str]) -> str | None:
    """The API key a request presents: ``Authorization: Bearer`` first, else ``Api-key``; an
    Authorization header of another scheme (and no Api-key) is an empty key, not a missing one."""
    secret = headers.get("api-key")
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            secret = value.strip()
        elif secret is None:
            secret = ""
    return secret


async def resolve_principal(request: HTTPConnection) -> Principal:
    """The caller of ``request``, known once per request (``KeyFirst`` may have found it
    before the body was read). A key this process has just seen is answered from the cache, on
    the event loop; only a lookup goes to the thread pool (a hop there costs more than the
    cache). The store and the cache are taken from the app, not as dependencies: every request
    solves this one, and each sub-dependency costs FastAPI more than reading an attribute."""
    state = request.scope.setdefault("state", {})
    found: Principal | None = state.get(_PRINCIPAL)
    if found is not None:
        return found
    db: Database = request.app.state.db
    cache: keys.KeyCache = request.app.state.key_cache
    secret = key_secret(request.headers)
    current_org_id = request.headers.get("current-org-id")
    who = keys.cached_principal(cache, secret, current_org_id)
    if who is None:
        who = await run_in_threadpool(keys.authenticate, db, secret, current_org_id, cache)
    state[_PRINCIPAL] = who
    return who


_PRINCIPAL = "headrace.principal"


async def _principal(
    request: Request,
    _scheme: Annotated[Any, Depends(_bearer)] = None,
    api_key: Annotated[str | None, Header(alias="Api-key")] = None,
    current_org_id: Annotated[str | None, Header(alias="Current-Org-Id")] = None,
) -> Principal:
    """The headers are declared here for the OpenAPI document; ``resolve_principal`` reads
    them."""
    return await resolve_principal(request)


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits keys of ``role`` or above (else 403)."""

    async def check(who: Annotated[Principal, Depends(_principal)]) -> Principal:
        if not who.role.allows(role):
            raise Forbidden(f"this needs a key with the {role} role; this key is {who.role}")
        return who

    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Builder = Annotated[Principal, Depends(require(Role.BUILDER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def encode_cursor(created_at: dt.datetime, ident: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{ident}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> Keyset:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, ident = raw.split("|")
        created_at = dt.datetime.fromisoformat(when)
        if created_at.tzinfo is None:
            raise ValueError("naive")
        return Keyset(created_at=created_at, id=uuid.UUID(ident))
    except ValueError as err:
        raise InvalidInput(
            "the cursor is not valid; use the one from the Link header",
            [Problem(("query", "cursor"), "not a cursor given by this API", "cursor.invalid")],
        ) from err


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: Keyset | None
    request: Request
    response: Response

    def link_next(
        self, items: list[Any], key: Callable[[Any], tuple[dt.datetime, uuid.UUID]]
    ) -> None:
        """Set ``Link: <…>; rel="next"`` when the page is full."""
        self.link_after(len(items), Keyset(*key(items[-1])) if items else None)

    def link_after(self, count: int, last: Keyset | None) -> None:
        """Set ``Link: <…>; rel="next"`` when the page (``count`` items, the last at ``last``)
        is full."""
        if count < self.limit or last is None:
            return
        cursor = encode_cursor(last.created_at, last.id)
        url = self.request.url.include_query_params(cursor=cursor)
        self.response.headers["Link"] = f'<{url}>; rel="next"'


async def _page(
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page (max 1000).")] = 100,
    cursor: Annotated[
        str | None, Query(description="From the previous page's Link header.")
    ] = None,
) -> PageRequest:
    return PageRequest(
        limit=limit,
        after=_decode_cursor(cursor) if cursor else None,
        request=request,
        response=response,
    )


Paging = Annotated[PageRequest, Depends(_page)]
