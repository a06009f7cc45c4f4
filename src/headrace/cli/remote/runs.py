"""``headrace runs start|plan|list|show|cancel|retry|logs``."""

from __future__ import annotations

import json
from itertools import islice
from typing import TYPE_CHECKING, Annotated, Any

import typer

from headrace.cli.remote.output import command, emit_json, show_table, when

if TYPE_CHECKING:
    from headrace.client import Client
    from headrace.client.models import PipelineRead, RunRead, RunStepMetadata

app = typer.Typer(help="Runs of a pipeline.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PipelineArg = Annotated[str, typer.Argument(help="Name or id of the pipeline.")]
RunArg = Annotated[str, typer.Argument(help="Id of the run.")]
Wait = Annotated[
    bool, typer.Option("--wait", help="Follow the run until it ends; exit 0 only if it succeeded.")
]
First = Annotated[str | None, typer.Option("--start", help="First step to run.")]
Last = Annotated[str | None, typer.Option("--end", help="Last step to run.")]
Params = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A parameter as NAME=VALUE (repeatable)."),
]
NoCache = Annotated[
    bool,
    typer.Option(
        "--no-cache", help="Run every selected step, even one an earlier run computed already."
    ),
]


def _finish(client: Client, run: RunRead, wait: bool, as_json: bool) -> None:
    """Print the run, or follow it to its end and exit with its outcome."""
    from headrace.cli.remote.progress import follow

    if not wait:
        if as_json:
            emit_json(run)
        else:
            typer.echo(f"run {run.name} ({run.id}): {run.status}")
        return
    if as_json:
        for _ in client.events(run.pipeline_id, run.id):
            pass
        run = client.get_run(run.pipeline_id, run.id)
        emit_json(run)
    else:
        typer.echo(f"run {run.name} ({run.id})")
        run = follow(client, run)
        typer.echo(f"run {run.name}: {run.status}")
    raise typer.Exit(0 if run.status == "Succeeded" else 1)


@app.command("start")
@command
def start(
    pipeline: PipelineArg,
    first: First = None,
    last: Last = None,
    param: Params = None,
    no_cache: NoCache = False,
    wait: Wait = False,
    as_json: Json = False,
) -> None:
    """Run the pipeline's current version, whole or from --start to --end, with parameters;
    steps an earlier run computed from the same inputs are reused (unless --no-cache)."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = client.find_pipeline(pipeline)
        values = _declared_params(found, param)
        run = client.start_run(
            found.id, start=first, end=last, parameters=values, use_cache=not no_cache
        )
        _finish(client, run, wait, as_json)


def _declared_params(found: PipelineRead, param: list[str] | None) -> dict[str, Any]:
    declared = found.current_version.parameters if found.current_version else []
    return parse_params(param or [], {p["name"]: p["type"] for p in declared})


def parse_params(given: list[str], types: dict[str, str]) -> dict[str, Any]:
    """``NAME=VALUE`` options as the JSON the API takes, read as each parameter's declared
    type (an undeclared name is sent as text, for the server to list with any other
    problem)."""
    from headrace.domain.parameters import BadValue, parse_cli_value

    values: dict[str, Any] = {}
    for item in given:
        name, sep, text = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--param")
        try:
            values[name] = parse_cli_value(types.get(name, "string"), text)
        except BadValue as err:
            raise typer.BadParameter(f"{name}: {err}", param_hint="--param") from None
    return values


def _why(run: RunRead) -> str:
    """Why a Pending run waits, or why a run was skipped or ended in error."""
    if run.waiting_reason:
        return run.waiting_reason
    if run.status in ("Cancelled", "Error"):
        return str(run.argo_metadata.get("message") or "")
    return ""


def started_by(run: RunRead) -> str:
    """What started the run, in a few words."""
    trigger = run.trigger
    kind = str(trigger.get("type", "manual"))
    if kind == "schedule":
        return f"schedule ({trigger.get('scheduled_for')})"
    if kind == "dataset":
        versions = trigger.get("dataset_versions") or {}
        return "dataset " + ", ".join(f"{n}@v{v}" for n, v in versions.items())
    if kind == "retry":
        return f"retry of {trigger.get('parent_run_id')}"
    return kind


@app.command("plan")
@command
def plan(
    pipeline: PipelineArg,
    first: First = None,
    last: Last = None,
    param: Params = None,
    no_cache: NoCache = False,
    as_json: Json = False,
) -> None:
    """What `runs start` would do now, creating nothing: for each step run, reuse or skip,
    why, and the version of each input it would read."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = client.find_pipeline(pipeline)
        values = _declared_params(found, param)
        planned = client.plan_run(
            found.id, start=first, end=last, parameters=values, use_cache=not no_cache
        )
    if as_json:
        emit_json(planned)
        return
    rows = [
        (
            s.name,
            s.action,
            ", ".join(
                f"{name}@{read if isinstance(read, str) else f'v{read}'}"
                for name, read in s.reads.items()
            ),
            s.reason,
        )
        for s in planned.steps
    ]
    title = f"plan of {found.name}, version {planned.version_number}"
    show_table(title, ("step", "action", "reads", "why"), rows)
    counts = {a: sum(1 for s in planned.steps if s.action == a) for a in ("run", "reuse", "skip")}
    typer.echo(f"{counts['run']} to run, {counts['reuse']} reused, {counts['skip']} skipped")
    for problem in planned.problems:
        typer.echo(f"problem: {'.'.join(str(x) for x in problem.loc)}: {problem.msg}", err=True)
    if planned.problems:
        raise typer.Exit(1)


def _progress(run: RunRead) -> str:
    """Steps whose result the run has: those that succeeded and those that reused an
    earlier success (Skipped, but not left out)."""
    done = sum(1 for s in run.run_steps if s.status == "Succeeded" or s.reused_from is not None)
    return f"{done}/{len(run.run_steps)}"


def _reused(run: RunRead) -> str:
    count = sum(1 for s in run.run_steps if s.reused_from is not None)
    return str(count) if count else ""


def _status(step: RunStepMetadata) -> str:
    """A reused step is Skipped, but not as a step a partial run leaves out is."""
    return f"{step.status} (reused)" if step.reused_from is not None else step.status


def _reused_from(step: RunStepMetadata) -> str:
    if step.reused_from is None:
        return ""
    saved = "" if step.saved_seconds is None else f", saved {step.saved_seconds:.2f} s"
    return f"reused from run {step.reused_from.run_id} step {step.reused_from.step_name}{saved}"


@app.command("list")
@command
def list_runs(
    pipeline: PipelineArg,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="Only runs in this status (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many runs, newest first.")] = 50,
    as_json: Json = False,
) -> None:
    """The pipeline's runs, newest first."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = client.find_pipeline(pipeline)
        runs = list(
            islice(
                client.list_runs(found.id, status=status or [], page_size=min(limit, 1000)), limit
            )
        )
    if as_json:
        emit_json(runs)
        return
    rows = [
        (
            r.id,
            r.name,
            r.status,
            _progress(r),
            _reused(r),
            started_by(r),
            _why(r),
            when(r.created_at),
            when(r.finished_at),
        )
        for r in runs
    ]
    columns = (
        "id",
        "name",
        "status",
        "succeeded",
        "reused",
        "started by",
        "why",
        "created",
        "finished",
    )
    show_table(f"runs of {found.name}", columns, rows)


def _steps_table(run: RunRead) -> None:
    rows = [
        (
            s.name,
            _status(s),
            s.rows_written,
            when(s.started_at),
            when(s.finished_at),
            s.error or _reused_from(s),
        )
        for s in run.run_steps
    ]
    columns = ("step", "status", "rows", "started", "finished", "error / reused from")
    show_table(f"{run.name}: {run.status}", columns, rows)


def _checks_table(run: RunRead) -> None:
    """Each check of the run's steps, with its violations and a few of its violating rows
    (the JSON output has all of the sample)."""
    rows = [
        (
            s.name,
            c.name,
            c.dataset,
            c.severity,
            c.status,
            c.violations,
            c.error or "; ".join(json.dumps(row, default=str) for row in c.sample[:3]),
        )
        for s in run.run_steps
        for c in s.checks
    ]
    if rows:
        columns = ("step", "check", "dataset", "severity", "status", "violations", "sample")
        show_table("checks", columns, rows)


@app.command("show")
@command
def show(pipeline: PipelineArg, run_id: RunArg, as_json: Json = False) -> None:
    """One run and its steps."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        run = client.get_run(client.find_pipeline(pipeline).id, run_id)
    if as_json:
        emit_json(run)
        return
    typer.echo(f"run {run.name} ({run.id}): {run.status}")
    if run.waiting_reason:
        typer.echo(f"waiting: {run.waiting_reason}")
    typer.echo(f"started by {started_by(run)}")
    if run.parameters:
        typer.echo("parameters: " + ", ".join(f"{k}={v!r}" for k, v in run.parameters.items()))
    typer.echo(f"created {when(run.created_at)}, finished {when(run.finished_at) or '-'}")
    _steps_table(run)
    _checks_table(run)


@app.command("cancel")
@command
def cancel(pipeline: PipelineArg, run_id: RunArg, as_json: Json = False) -> None:
    """Stop a Pending or Running run."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        run = client.cancel_run(client.find_pipeline(pipeline).id, run_id)
    if as_json:
        emit_json(run)
    else:
        typer.echo(f"run {run.name} ({run.id}): {run.status}, cancel requested")


def _retry_note(found: PipelineRead, earlier: RunRead, current: bool) -> list[str]:
    """Which version a retry reruns, and the current version when it is newer."""
    version = earlier.pipeline_version
    newest = found.current_version
    if current and newest is not None:
        return [
            f"running the current version {newest.number} of {found.name} instead of retrying "
            f"version {version.number}: unchanged steps are reused"
        ]
    lines = [f"retrying run {earlier.id}: version {version.number} of {found.name}"]
    if newest is not None and newest.id != version.id:
        lines.append(
            f"the pipeline has a newer version, {newest.number}; to run it instead, reusing "
            f"every step that did not change: headrace runs retry {found.name} {earlier.id} "
            "--current"
        )
    return lines


@app.command("retry")
@command
def retry(
    pipeline: PipelineArg,
    run_id: RunArg,
    current: Annotated[
        bool,
        typer.Option(
            "--current",
            help="Run the pipeline's current version instead (a retry reruns the run's own "
            "version); steps that did not change are reused.",
        ),
    ] = False,
    wait: Wait = False,
    as_json: Json = False,
) -> None:
    """A new run of what did not succeed (and everything downstream of it), of the run's own
    version; says so when the pipeline has a newer one."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = client.find_pipeline(pipeline)
        earlier = client.get_run(found.id, run_id)
        for line in _retry_note(found, earlier, current):
            typer.echo(line, err=as_json)
        if current:
            # the run's parameters that the current version still declares
            declared = found.current_version.parameters if found.current_version else []
            names = {p["name"] for p in declared}
            kept = {k: v for k, v in earlier.parameters.items() if k in names}
            run = client.start_run(found.id, parameters=kept)
        else:
            run = client.retry_run(found.id, run_id)
        _finish(client, run, wait, as_json)


@app.command("logs")
@command
def logs(
    pipeline: PipelineArg,
    run_id: RunArg,
    step: Annotated[str | None, typer.Argument(help="Only this step's lines.")] = None,
) -> None:
    """The log lines of a step, or of every step that has some, kept after the worker is gone."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        pipeline_id = client.find_pipeline(pipeline).id
        if step is not None:
            typer.echo(client.step_logs(pipeline_id, run_id, step), nl=False)
            return
        run = client.get_run(pipeline_id, run_id)
        for s in run.run_steps:
            text = client.step_logs(pipeline_id, run_id, s.name)
            if text:
                typer.echo(f"== {s.name} ({s.status})")
                typer.echo(text, nl=False)
