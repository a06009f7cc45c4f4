"""A located problem with client input; validation collects all of them instead of stopping."""

from __future__ import annotations

from dataclasses import dataclass

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a client's input, where it is, and a stable type name."""

    loc: Loc
    msg: str
    type: str
