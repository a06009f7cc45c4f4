"""The optional DataFrame libraries of the client's helpers (``read_pandas``,
``read_polars``): imported when asked for, and when missing, an error that names the extra
that installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from headrace.client.errors import HeadraceClientError

# library -> the headrace extra that installs it
EXTRAS = {"pandas": "pandas", "polars": "polars"}


class MissingExtra(HeadraceClientError, ImportError):
    """A helper needs a library that is not installed."""


def need(library: str) -> ModuleType:
    """The library, imported; ``MissingExtra`` naming ``headrace[extra]`` when it is not
    installed."""
    try:
        return importlib.import_module(library)
    except ModuleNotFoundError as err:
        if err.name != library:
            raise
        extra = EXTRAS[library]
        raise MissingExtra(
            f"this needs {library}, which is not installed: pip install 'headrace[{extra}]'"
        ) from err
