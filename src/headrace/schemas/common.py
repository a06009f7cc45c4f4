"""Shapes shared by every resource: the one error body."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer has this shape, served as ``application/problem+json``: RFC
    9457's ``type``, ``title`` and ``status`` beside headrace's own ``detail`` (one readable
    sentence, also RFC 9457's), ``code`` (stable, for programs) and ``errors`` (every problem,
    located). ``type`` is ``about:blank``: the kind of problem is ``code``, and RFC 9457 then
    wants ``title`` to be the status's phrase."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[ErrorItem] = []
