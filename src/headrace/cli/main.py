"""Entry point of the ``headrace`` command: server, workers, admin, local runs, and the
commands that drive a server over its API (``cli/remote/``), each built only when it is used
(``cli/lazy.py``)."""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, ClassVar

import typer

from headrace.cli.lazy import Elsewhere, Entry, LazyGroup

admin_app = typer.Typer(help="Administration of the metadata store.", no_args_is_help=True)
db_app = typer.Typer(help="Schema of the metadata store.", no_args_is_help=True)
step_app = typer.Typer(help="What an Argo pod runs.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="API processes sharing the port (default: HEADRACE_SERVE_PROCESSES, 1); "
            "past 1, runs are executed by one worker process of their own.",
        ),
    ] = None,
) -> None:
    """Serve the API (and run a worker in-process unless HEADRACE_RUN_WORKER=false)."""
    from headrace.cli.server import run_server

    raise typer.Exit(run_server(host, port, workers))


def worker(
    processes: Annotated[int, typer.Option(help="Worker processes to start (spawned).")] = 1,
) -> None:
    """Run workers that claim and execute Pending runs (more than one needs PostgreSQL)."""
    from headrace.cli.workers import run_workers

    raise typer.Exit(run_workers(processes))


def run(
    pipeline_file: Annotated[Path, typer.Argument(help="Pipeline YAML: name, steps, sources.")],
    start: Annotated[
        str | None, typer.Option("--start", help="First step of a partial run.")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last step of a partial run.")] = None,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Run every step, even one an earlier run computed."),
    ] = False,
) -> None:
    """Run a pipeline file on the embedded default, without a server; steps an earlier run
    computed from the same inputs are reused (unless --no-cache)."""
    from headrace.cli.context import importing
    from headrace.execution.step_process import ReadyProcesses

    steps = ReadyProcesses()
    steps.start()  # step processes boot while the rest is imported and the sources load
    try:
        with importing():
            from headrace.cli.local_run import run_file

        code = run_file(pipeline_file, start, end, steps, use_cache=not no_cache)
    finally:
        steps.close()
    raise typer.Exit(code)


def sweep() -> None:
    """Remove what writes cut short left behind: unreferenced files, abandoned unrecorded
    commits (rolled back), staged uploads and exports; only what is past the grace period."""
    from headrace.cli.sweep import run_sweep

    raise typer.Exit(run_sweep())


@step_app.command("exec")
def step_exec(
    run_id: Annotated[str, typer.Option("--run", help="Id of the run.")],
    step: Annotated[str | None, typer.Option("--step", help="Name of the step.")] = None,
    node: Annotated[
        str | None,
        typer.Option("--node", help="Argo node name of the step's task (what a pod is given)."),
    ] = None,
) -> None:
    """Execute exactly one step of a run (the command of an Argo step pod), named by
    --step or by its Argo node with --node; exit 1 unless it succeeded."""
    import uuid
    from contextlib import nullcontext

    from headrace.cli.context import importing, open_runtime

    with importing():  # every step pod starts here: a cold start on each step's path
        from headrace.execution.step import StepRunner
        from headrace.execution.step_process import ReadyProcesses
        from headrace.logs import bound
        from headrace.services import run_trace
        from headrace.services.step_store import DatabaseStepStore, step_of_node
        from headrace.settings import Settings

    if (step is None) == (node is None):
        raise typer.BadParameter("give exactly one of --step and --node")
    from headrace.telemetry import configure_tracing

    tracing = configure_tracing("headrace-step")
    # A pod runs one step: its one step process, none kept ready. Closing the runtime writes
    # the checkpoint its commit may have left to the background.
    with open_runtime(Settings(), migrate=False, steps=ReadyProcesses.keeping_none()) as runtime:
        run = uuid.UUID(run_id)
        name = step if step is not None else step_of_node(runtime.db, run, str(node))
        quota = runtime.settings.org_storage_quota_bytes
        store = DatabaseStepStore(runtime.db, runtime.graphs, storage_quota=quota)
        runner = StepRunner(store, runtime)
        with (
            bound(run_id=run, step=name),
            run_trace.following_run(runtime.db, run, f"pod {name}") if tracing else nullcontext(),
        ):
            outcome = runner.run(run, name)
    typer.echo(
        f"step {name}: {outcome.status.value}" + (f": {outcome.error}" if outcome.error else "")
    )
    raise typer.Exit(0 if outcome.status.value == "Succeeded" else 1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations to the configured metadata store."""
    from headrace.cli.context import open_database

    open_database(migrate=True).dispose()
    typer.echo("the metadata store is up to date")


@db_app.command("wait")
def db_wait(
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait at most (exit 1 past them).", min=0)
    ] = 600,
) -> None:
    """Wait until the metadata store is at the schema this version needs (a migration Job
    migrates it): what a pod runs before the API or a worker starts."""
    from headrace.cli.context import open_database
    from headrace.persistence.migrate import wait_for_head

    db = open_database(migrate=False)
    ready = wait_for_head(db.engine, timeout)
    db.dispose()
    if not ready:
        typer.echo(f"the metadata store is not migrated after {timeout:g} s", err=True)
        raise typer.Exit(1)
    typer.echo("the metadata store is up to date")


@admin_app.command("create-org")
def create_org(
    name: Annotated[str, typer.Argument(help="Name of the organisation.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create an organisation and print its first admin API key (shown only once)."""
    from headrace.cli.context import open_database
    from headrace.services import keys

    db = open_database(migrate=True)
    new = keys.create_org(db, name)
    db.dispose()
    if as_json:
        typer.echo(json.dumps({"org_id": str(new.record.org_id), "api_key": new.secret}))
    else:
        typer.echo(f"organisation {name}: {new.record.org_id}")
        typer.echo(f"admin API key (shown only now): {new.secret}")


def demo(
    folder: Annotated[Path, typer.Option(help="Data folder of the demo; emptied first.")] = Path(
        ".headrace-demo"
    ),
) -> None:
    """Start a server on the embedded default, load the example, run it, show the results."""
    from headrace.cli.demo import run_demo

    raise typer.Exit(run_demo(folder))


class _Headrace(LazyGroup):
    # What `headrace --help` lists, in this order; each built only when looked up.
    entries: ClassVar[Mapping[str, Entry]] = {
        "login": Elsewhere("headrace.cli.remote.config", "login"),
        "init": Elsewhere("headrace.cli.project", "init"),
        "serve": serve,
        "worker": worker,
        "run": run,
        "sweep": sweep,
        "demo": demo,
        "admin": admin_app,
        "db": db_app,
        "step": step_app,
        "schema": Elsewhere("headrace.cli.schema"),
        "pipelines": Elsewhere("headrace.cli.remote.pipelines"),
        "runs": Elsewhere("headrace.cli.remote.runs"),
        "datasets": Elsewhere("headrace.cli.remote.datasets"),
        "keys": Elsewhere("headrace.cli.remote.keys"),
        "webhooks": Elsewhere("headrace.cli.remote.webhooks"),
        "schedules": Elsewhere("headrace.cli.remote.schedules"),
        "triggers": Elsewhere("headrace.cli.remote.triggers"),
    }


def _print_version(wanted: bool) -> None:
    if wanted:
        from headrace import __version__

        typer.echo(f"headrace {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Runs before every command (``--version`` aside, doing nothing): it also makes typer
    build a group (of ``_Headrace``) from an app with no registered commands."""


app = typer.Typer(
    cls=_Headrace,
    callback=_root,
    help="headrace: data pipelines as versioned SQL steps over versioned Delta datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: rich's help formatter would add its heavy imports to every `--help`.
    rich_markup_mode=None,
)


def main() -> None:
    """The ``headrace`` command. When nothing is left running it ends without tearing the
    interpreter down: finalising DuckDB, deltalake, pyarrow and SQLAlchemy is a noticeable
    part of a small ``headrace run``. Exit handlers still run and output is flushed."""
    # What headrace writes (metadata store, warehouse, scratch files, logs) is its own: others
    # on the machine may not read it. Step processes inherit the mask.
    os.umask(0o077)
    try:
        app()
        code: str | int | None = 0
    except SystemExit as done:
        code = done.code
    except ModuleNotFoundError as err:  # `pip install headrace` without the server's extra
        from headrace.cli.extras import missing_extra

        message = missing_extra(err)
        if message is None:
            raise
        code = f"error: {message}"
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(t.is_alive() and not t.daemon for t in others) or isinstance(code, str):
        sys.exit(code)  # a thread to wait for, or a message to print: the ordinary way
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
