"""What a command says when the dependencies it needs were not installed.

``pip install headrace`` gives the client and the remote commands; ``serve``, ``worker``,
``run``, ``sweep``, ``step exec``, ``db`` and ``admin`` need ``headrace[server]``. Rather than
a traceback ending in ``No module named 'sqlalchemy'``, those commands say which extra to
install. The server's modules are read from the installed package's own metadata, so a
dependency added to the extra is known here without a second list.
"""

from __future__ import annotations

import re
from importlib import metadata

SERVER_EXTRA = "server"
# Distributions whose import name is not their project name made lower_case.
_IMPORT_NAMES = {"python-multipart": ("multipart", "python_multipart"), "pyyaml": ("yaml",)}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def extra_modules(extra: str) -> frozenset[str]:
    """The top-level modules of the distributions that ``headrace[extra]`` adds."""
    try:
        requirements = metadata.requires("headrace") or []
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return frozenset()
    modules: set[str] = set()
    for requirement in requirements:
        name, _, marker = requirement.partition(";")
        found = _NAME.match(name.strip())
        if found is None or not re.search(rf"extra\s*==\s*['\"]{extra}['\"]", marker):
            continue
        project = found.group(0).lower()
        modules.update(_IMPORT_NAMES.get(project, (project.replace("-", "_").replace(".", "_"),)))
    return frozenset(modules)


def missing_extra(error: ModuleNotFoundError) -> str | None:
    """The one-line message for a module of the server extra that is not installed, or None
    when the missing module is something else (a bug to show as it is)."""
    top = (error.name or "").partition(".")[0]
    if top and top in extra_modules(SERVER_EXTRA):
        return (
            f"this command needs headrace's server dependencies ({top} is not installed): "
            f"pip install 'headrace[{SERVER_EXTRA}]'"
        )
    return None
