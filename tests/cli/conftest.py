"""CLI tests run against a real ``headrace serve``; each test has its own organisation."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from headrace.cli.main import app
from tests.factories import generated_steps
from tests.live import Served, served

__all__ = ["served"]


@dataclass
class Cli:
    """``headrace`` in-process, logged in through the environment."""

    env: dict[str, str]
    folder: Path

    def __call__(self, *args: str, **env: str) -> Result:
        return CliRunner().invoke(app, list(args), env={**self.env, **env})

    def pipeline_file(
        self, name: str, steps: Sequence[dict[str, Any]] | None = None, **extra: Any
    ) -> Path:
        path = self.folder / f"{name}.yaml"
        doc = {"name": name, "steps": list(steps or generated_steps()), **extra}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path


@pytest.fixture(autouse=True)
def _root_logging_kept() -> Iterator[None]:
    """A command that serves (``headrace sweep``, ``serve``) points the root logger at the
    stderr of the CliRunner that invoked it; once that runner has closed it, any later log
    line in this process (httpx logs every request) printed "--- Logging error ---" into
    whichever command's output was being captured then."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cli(served: Served, tmp_path: Path) -> Cli:
    env = {
        "HEADRACE_URL": served.url,
        "HEADRACE_API_KEY": served.new_org_key(),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "COLUMNS": "250",
    }
    return Cli(env, tmp_path)


def one_line_error(result: Result) -> str:
    """The single ``error: …`` line of a failed command (and no traceback)."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]
