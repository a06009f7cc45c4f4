"""The ``headrace`` group builds each command only when it is looked up (``cli/lazy.py``):
every command is still there, with the help typer's own registration would give it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from headrace.cli.lazy import Elsewhere
from headrace.cli.main import _Headrace, _root, app


def _eager() -> typer.Typer:
    """The same app registered the ordinary way, every command built before dispatch."""
    eager = typer.Typer(
        help=app.info.help,
        callback=_root,  # the root's own options (--version)
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    for name, entry in _Headrace.entries.items():
        found = entry.load() if isinstance(entry, Elsewhere) else entry
        if isinstance(found, typer.Typer):
            eager.add_typer(found, name=name)
        else:
            eager.command(name)(found)
    return eager


def _paths(application: typer.Typer) -> Iterator[list[str]]:
    """Every command and sub-command, as the words that invoke it."""
    root = typer.main.get_command(application)
    assert isinstance(root, typer.core.TyperGroup)
    for name in root.list_commands(None):  # type: ignore[arg-type]
        yield [name]
        command = root.commands[name]
        if isinstance(command, typer.core.TyperGroup):
            for sub in command.list_commands(None):  # type: ignore[arg-type]
                yield [name, sub]


def _invoke(application: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(application, list(args), env={"COLUMNS": "100"})
    return result.exit_code, result.output


def test_help_lists_every_command_in_order() -> None:
    code, text = _invoke(app, "--help")
    assert code == 0
    listed = [line.split()[0] for line in text.split("Commands:\n")[1].splitlines()]
    assert listed == list(_Headrace.entries)
    assert _invoke(app, "--help") == _invoke(_eager(), "--help")


def test_every_command_has_the_help_of_the_eagerly_built_app() -> None:
    eager = _eager()
    paths = list(_paths(eager))
    assert list(_paths(app)) == paths
    assert len(paths) > len(_Headrace.entries)  # the sub-commands are there too
    for path in paths:
        code, text = _invoke(app, *path, "--help")
        assert code == 0, (path, text)
        assert (code, text) == _invoke(eager, *path, "--help"), path


@pytest.mark.parametrize(
    "args",
    [[], ["rnu"], ["run"], ["run", "--bogus", "x"], ["runs"], ["runs", "lsit"], ["admin"]],
)
def test_usage_errors_are_those_of_the_eagerly_built_app(args: list[str]) -> None:
    code, text = _invoke(app, *args)
    assert code == 2
    assert (code, text) == _invoke(_eager(), *args)


def test_a_command_builds_only_itself() -> None:
    """``headrace run`` imports no remote command module and builds no other command."""
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from headrace.cli.main import app\n"
        "import typer.main\n"
        "built = []\n"
        "original = typer.main.get_command_from_info\n"
        "def counting(info, **kw):\n"
        "    built.append(info.name)\n"
        "    return original(info, **kw)\n"
        "import headrace.cli.lazy as lazy\n"
        "lazy.get_command_from_info = counting\n"
        "result = CliRunner().invoke(app, ['run', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(built, sorted(m for m in sys.modules if m.startswith('headrace.cli.remote.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "['run'] []"


def test_version_prints_the_package_version() -> None:
    from headrace import __version__

    assert _invoke(app, "--version") == (0, f"headrace {__version__}\n")
