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
    """Every 4xx and 5xx answer has this shape."""

    detail: str
    code: str
    errors: list[ErrorItem] = []
