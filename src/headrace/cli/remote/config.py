"""Where the CLI finds its server and key: ``headrace login`` stores them in the user's config
folder (0600); ``HEADRACE_URL`` and ``HEADRACE_API_KEY`` override what is stored."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from headrace.cli.remote.output import CliError, command

if TYPE_CHECKING:
    from headrace.client import Client


@dataclass(frozen=True)
class Profile:
    url: str
    api_key: str


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "headrace" / "config.json"


def _stored() -> dict[str, str]:
    path = config_path()
    if not path.exists():
        return {}
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CliError(f"cannot read {path}: {err}; run `headrace login` again") from err
    return {k: v for k, v in found.items() if isinstance(v, str)} if isinstance(found, dict) else {}


def current() -> Profile:
    stored = _stored()
    url = os.environ.get("HEADRACE_URL") or stored.get("url")
    key = os.environ.get("HEADRACE_API_KEY") or stored.get("api_key")
    if not url or not key:
        raise CliError(
            "not logged in: run `headrace login --url URL --api-key KEY` "
            "(or set HEADRACE_URL and HEADRACE_API_KEY)"
        )
    return Profile(url, key)


def connect() -> Client:
    from headrace.client import Client

    profile = current()
    return Client(profile.url, profile.api_key)


def save(profile: Profile) -> Path:
    """Write the profile readable by its owner only, replacing the old one atomically."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": profile.url, "api_key": profile.api_key}, f, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return path


@command
def login(
    url: Annotated[str, typer.Option(help="Base URL of the server, e.g. http://127.0.0.1:8000.")],
    api_key: Annotated[
        str, typer.Option(help="An API key of your organisation.", prompt=True, hide_input=True)
    ],
) -> None:
    """Check the key against the server and remember both for the next commands."""
    from headrace.client import Client

    with Client(url, api_key) as client:
        next(client.list_pipelines(page_size=1), None)
    path = save(Profile(url.rstrip("/"), api_key))
    typer.echo(f"logged in to {url} with key {api_key[:10]}… (saved in {path})")
