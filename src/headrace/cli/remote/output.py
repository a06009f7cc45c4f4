"""What every remote command shares: one-line errors, JSON output and rich tables."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import typer

P = ParamSpec("P")
R = TypeVar("R")

FAILED = 2  # the command could not do its work; 1 is kept for "the run did not succeed"


class CliError(Exception):
    """A problem the CLI itself found (not logged in, no such file)."""


def _one_line(err: Exception) -> str:
    from headrace.cli.pipeline_file import PipelineFileError
    from headrace.client import HeadraceApiError, HeadraceClientError

    if isinstance(err, HeadraceApiError):
        text = err.message()
        if err.status == 401:
            text += "; check the key or run `headrace login`"
        return f"{text} [{err.status} {err.code}]"
    if isinstance(err, PipelineFileError | CliError | TimeoutError | HeadraceClientError):
        return str(err)
    if isinstance(err, OSError):
        return f"{err.strerror or err}: {err.filename}" if err.filename else str(err)
    return f"unexpected {type(err).__name__}: {err}"


def command(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command so that any failure prints ``error: <one line>`` and exits non-zero."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as err:
            message = " ".join(_one_line(err).split())
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(FAILED) from None

    return run


def emit_json(data: Any) -> None:
    """Machine output: the API's own JSON shapes."""
    from pydantic import BaseModel

    def plain(value: Any) -> Any:
        return (
            value.model_dump(mode="json", by_alias=True) if isinstance(value, BaseModel) else value
        )

    body = [plain(v) for v in data] if isinstance(data, list) else plain(data)
    typer.echo(json.dumps(body, indent=2, default=str))


def show_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    Console().print(table)


def when(value: Any) -> str:
    """A timestamp to the second, or nothing."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""
