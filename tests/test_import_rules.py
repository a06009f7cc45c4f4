"""The layers' import rules (docs/architecture.md), read from the source with ``ast``: every
import counts, at module level, inside a function or under ``TYPE_CHECKING``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import headrace

SRC = Path(headrace.__file__).parent
SERVER = {"api", "cli", "execution", "persistence", "runtime", "services", "settings", "storage"}

# package → the packages of ours it may import (besides itself and ``headrace.__version__``)
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "schemas": {"domain"},
    "client": {"domain", "schemas"},
    "execution": {"domain", "storage", "settings", "errors", "logs", "caching"},
    "storage": {"domain", "settings", "errors", "logs", "caching"},
    "persistence": {"domain", "caching"},
}
NOBODY_IMPORTS = {"api": {"cli"}, "cli": set()}  # package → who may import it anyway


def _imports(path: Path) -> set[str]:
    """The top-level packages of ours that the module imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "headrace" else []
            if node.module == "headrace":
                names = [f"headrace.{a.name}" for a in node.names if a.name != "__version__"]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "headrace" and len(parts) > 1:
                found.add(parts[1])
    return found


def _package(path: Path) -> str:
    relative = path.relative_to(SRC).parts
    return relative[0].removesuffix(".py")


MODULES = sorted(SRC.rglob("*.py"))


def test_every_layer_imports_only_what_it_may() -> None:
    broken = []
    for path in MODULES:
        package = _package(path)
        ours = _imports(path) - {package}
        if package in ALLOWED and not ours <= ALLOWED[package]:
            broken.append(f"{path.relative_to(SRC)} imports {sorted(ours - ALLOWED[package])}")
        for top, allowed in NOBODY_IMPORTS.items():
            if top in ours and package not in allowed:
                broken.append(f"{path.relative_to(SRC)} imports {top}")
    assert broken == []


def test_the_rules_see_what_they_check() -> None:
    """The reader finds imports of every kind (so the rules above are not vacuous)."""
    assert _imports(SRC / "execution" / "step.py") >= {"domain", "storage", "settings"}
    assert "persistence" in _imports(SRC / "services" / "lifecycle.py")
    assert len(MODULES) > 100


@pytest.mark.parametrize("module", ["headrace.client", "headrace.cli.remote"])
def test_the_client_loads_no_server_module(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "print(' '.join(sorted(m for m in sys.modules if '.' not in m or "
        "m.startswith('headrace.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    heavy = {"sqlalchemy", "duckdb", "deltalake", "fastapi", "pyarrow", "alembic", "uvicorn"}
    assert heavy.isdisjoint(out), heavy & set(out)
    ours = {m.split(".")[1] for m in out if m.startswith("headrace.")}
    server = SERVER - {module.split(".")[1]}  # the remote commands live in the cli package
    assert ours.isdisjoint(server), ours & server
