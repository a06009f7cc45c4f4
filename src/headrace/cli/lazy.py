"""The ``headrace`` group, building each command only when it is looked up.

Typer turns a whole app into click commands before it dispatches: for each command of each
sub-app it reads the function's signature and evaluates its type hints (every command, in
every ``headrace`` process, with the remote sub-apps imported first). Here
the root group holds one entry per command, in the order ``headrace --help`` lists them, and
builds an entry (importing its module if needed) the first time it is asked for it:
``headrace run`` builds ``run`` alone, ``headrace --help`` builds them all for their help
lines. Each entry is built with the same typer functions and defaults as ``app.command()`` /
``app.add_typer()``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import typer
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_group_from_info
from typer.models import CommandInfo, TyperInfo

if TYPE_CHECKING:
    from typer._click import Command


@dataclass(frozen=True)
class Elsewhere:
    """A command function or sub-app in a module imported only when it is used."""

    module: str
    attr: str = "app"

    def load(self) -> typer.Typer | Callable[..., Any]:
        found: typer.Typer | Callable[..., Any] = getattr(
            importlib.import_module(self.module), self.attr
        )
        return found


Entry = typer.Typer | Callable[..., Any] | Elsewhere


class _Commands(MutableMapping[str, "Command"]):
    """Name -> click command, built from its entry on first access; names never need it."""

    def __init__(self, entries: Mapping[str, Entry], build: Callable[[str, Entry], Command]):
        self._entries = dict(entries)
        self._build = build
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            if name not in self._entries:
                raise KeyError(name)
            self._built[name] = self._build(name, self._entries[name])
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._entries and name not in self._built:
            raise KeyError(name)
        self._entries.pop(name, None)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self._entries), **dict.fromkeys(self._built)})

    def __len__(self) -> int:
        return len(self._entries.keys() | self._built.keys())


class LazyGroup(TyperGroup):
    """A root group whose commands are ``entries`` (a subclass sets them), built on demand
    with the root's markup and suggestion settings (and typer's default short tracebacks),
    as its registered commands and sub-apps would be."""

    entries: ClassVar[Mapping[str, Entry]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.entries, self._build)

    def _build(self, name: str, entry: Entry) -> Command:
        found = entry.load() if isinstance(entry, Elsewhere) else entry
        if isinstance(found, typer.Typer):
            return get_group_from_info(
                TyperInfo(found, name=name),
                pretty_exceptions_short=True,
                rich_markup_mode=self.rich_markup_mode,
                suggest_commands=self.suggest_commands,
            )
        return get_command_from_info(
            CommandInfo(name=name, callback=found),
            pretty_exceptions_short=True,
            rich_markup_mode=self.rich_markup_mode,
        )
