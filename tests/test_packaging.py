"""``pip install headrace`` is the client and the remote commands, nothing of the server.

A fresh virtualenv gets the base dependencies at the versions uv.lock pins, then headrace
itself built from this tree (not editable, so only what the package ships is there). In it,
``import headrace.client`` works with SQLAlchemy, DuckDB, deltalake and FastAPI not even
installed; ``headrace --version`` answers; the remote commands drive a real server (started
from the full environment); a server command says which extra to install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import headrace
from tests.factories import generated_steps
from tests.live import Served, served

__all__ = ["served"]

ROOT = Path(__file__).resolve().parents[1]
SERVER_ONLY = ("sqlalchemy", "duckdb", "deltalake", "fastapi", "uvicorn", "alembic")


def _uv() -> str:
    found = shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv")
    assert found, "uv is missing: it is a dev dependency (make install)"
    return found


def _run(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(args), capture_output=True, text=True, timeout=600, env=env, cwd=ROOT
    )
    if check:
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A virtualenv holding ``headrace`` without any extra."""
    folder = tmp_path_factory.mktemp("light")
    venv = folder / "venv"
    uv = _uv()
    _run(uv, "venv", "--quiet", "--python", sys.executable, str(venv))
    python = str(venv / "bin" / "python")
    requirements = folder / "requirements.txt"
    _run(
        uv,
        "export",
        "--quiet",
        "--frozen",
        "--no-emit-project",
        "--no-dev",
        "--output-file",
        str(requirements),
    )
    _run(uv, "pip", "install", "--quiet", "--python", python, "-r", str(requirements))
    _run(uv, "pip", "install", "--quiet", "--python", python, "--no-deps", str(ROOT))
    yield venv


def _light_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, **extra}


def test_the_client_imports_without_the_servers_libraries(light_venv: Path) -> None:
    probe = (
        "import importlib.util, json, sys\n"
        "import headrace.client\n"
        "from headrace.client import Client\n"
        f"names = {list(SERVER_ONLY)!r}\n"
        "print(json.dumps({'installed': [n for n in names if importlib.util.find_spec(n)],"
        " 'file': headrace.client.__file__}))\n"
    )
    done = _run(str(light_venv / "bin" / "python"), "-c", probe, env=_light_env())
    found = json.loads(done.stdout)
    assert found["installed"] == []
    assert found["file"].startswith(str(light_venv))  # the installed package, not this tree


def test_the_remote_cli_runs_and_server_commands_name_the_extra(
    light_venv: Path, served: Served, tmp_path: Path
) -> None:
    headrace_bin = str(light_venv / "bin" / "headrace")
    env = _light_env(
        HEADRACE_URL=served.url,
        HEADRACE_API_KEY=served.new_org_key(),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    assert _run(headrace_bin, "--version", env=env).stdout == f"headrace {headrace.__version__}\n"
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump({"name": "light", "steps": list(generated_steps())}))
    assert (
        "valid" in _run(headrace_bin, "pipelines", "validate", "-f", str(pipeline), env=env).stdout
    )
    _run(headrace_bin, "pipelines", "push", "-f", str(pipeline), env=env)
    listed = json.loads(_run(headrace_bin, "pipelines", "list", "--json", env=env).stdout)
    assert [p["name"] for p in listed] == ["light"]

    refused = _run(headrace_bin, "serve", env=env, check=False)
    assert refused.returncode != 0
    assert "pip install 'headrace[server]'" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_lock_matches_pyproject() -> None:
    """``make install``, CI and the image install uv.lock: it must be the lock of these
    dependencies (``make lock`` after changing them)."""
    done = _run(_uv(), "lock", "--locked", check=False)
    assert done.returncode == 0, f"uv.lock is out of date (run `make lock`): {done.stderr}"


def test_one_uv_version_everywhere() -> None:
    lock = (ROOT / "uv.lock").read_text()
    pinned = lock.split('\nname = "uv"\nversion = "', 1)[1].split('"', 1)[0]
    assert f"UV_VERSION := {pinned}\n" in (ROOT / "Makefile").read_text()
    assert f"ARG UV_VERSION={pinned}\n" in (ROOT / "Dockerfile").read_text()
