"""Column names that every reader of a Delta table can read.

Spark and Trino read a Delta table's columns by name through the Parquet schema unless the
table uses column mapping, which headrace's tables do not (column mapping would shut out the
readers that lack it). Those engines refuse names holding a space or any of ``,;{}()=``, a
newline or a tab. DuckDB and deltalake would write and read them, so the table would be
readable here and nowhere else: headrace refuses such names at every write (uploads, upserts,
step outputs) with the name to use instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_UNREADABLE = re.compile(r"[ ,;{}()\n\t=]")
_NAMED = {" ": "a space", "\n": "a newline", "\t": "a tab"}


def unreadable(name: str) -> str | None:
    """Why Spark and Trino cannot read a column of this name (None: they can)."""
    found = sorted(set(_UNREADABLE.findall(name)), key=" ,;{}()=\n\t".index)
    if not found:
        return None
    said = [_NAMED.get(c, repr(c)) for c in found]
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]


def readable_name(name: str) -> str:
    """The name with each run of those characters made one underscore."""
    return re.sub(r"[ ,;{}()\n\t=]+", "_", name).strip("_") or "column"


def unreadable_names(names: Iterable[str]) -> list[tuple[str, str]]:
    """Each name Spark and Trino cannot read, with a message saying why and what to use."""
    return [
        (
            name,
            f"column {name!r} has {why}, which Spark and Trino cannot read without Delta "
            f"column mapping: rename it, e.g. {readable_name(name)!r}",
        )
        for name in names
        if (why := unreadable(name)) is not None
    ]
