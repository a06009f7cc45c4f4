"""/api-keys/: create (admin), list, revoke."""

from __future__ import annotations

import uuid

from fastapi import Response

from headrace.api.deps import Admin, Db, KeyCache, Paging
from headrace.api.openapi import errors
from headrace.api.routing import SlashRouter
from headrace.schemas.keys import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from headrace.services import keys

router = SlashRouter(tags=["api-keys"])


@router.post("/api-keys/", status_code=201, response_model=ApiKeyCreated)
def create_key(body: ApiKeyCreate, who: Admin, db: Db, response: Response) -> ApiKeyCreated:
    """A new key of the caller's organisation; the secret is shown only here (and kept by no
    cache on the way: ``Cache-Control: no-store``)."""
    new = keys.create_key(db, who, body.name, body.role)
    response.headers["Cache-Control"] = "no-store"
    return ApiKeyCreated(**ApiKeyRead.of(new.record).model_dump(), api_key=new.secret)


@router.get("/api-keys/", response_model=list[ApiKeyRead])
def list_keys(who: Admin, db: Db, paging: Paging) -> list[ApiKeyRead]:
    found = keys.list_keys(db, who, paging.after, paging.limit)
    paging.link_next(found, lambda k: (k.created_at, k.id))
    return [ApiKeyRead.of(k) for k in found]


@router.delete(
    "/api-keys/{key_id}/", status_code=204, response_class=Response, responses=errors(409)
)
def revoke_key(key_id: uuid.UUID, who: Admin, db: Db, cache: KeyCache) -> Response:
    """Revoke a key: it stops working at once in this process, and within a second in the
    server's other processes. 409 for the organisation's last admin key."""
    keys.revoke_key(db, who, key_id, cache)
    return Response(status_code=204)
