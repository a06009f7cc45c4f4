"""``headrace pipelines list|show|create|push|validate``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from headrace.cli.remote.output import command, emit_json, show_table, when

if TYPE_CHECKING:
    import uuid

    from headrace.cli.pipeline_file import PipelineFile
    from headrace.client import Client
    from headrace.client.models import PipelineRead

app = typer.Typer(help="Pipelines of your organisation.", no_args_is_help=True)

File = Annotated[Path, typer.Option("--file", "-f", help="Pipeline YAML: name, steps.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PipelineArg = Annotated[str, typer.Argument(help="Name or id of the pipeline.")]


def _load(path: Path) -> PipelineFile:
    from headrace.cli.pipeline_file import load

    return load(path)


@contextmanager
def _located(doc: PipelineFile) -> Iterator[None]:
    """The server's 422 for the file's steps, each problem where the file has it."""
    from headrace.cli.pipeline_file import PipelineFileError
    from headrace.client import HeadraceApiError
    from headrace.domain.problems import Problem

    try:
        yield
    except HeadraceApiError as err:
        if err.status != 422 or not err.errors:
            raise
        problems = [
            Problem(tuple(e.loc[1:] if e.loc[:1] == ["body"] else e.loc), e.msg, e.type)
            for e in err.errors
        ]
        listed = "; ".join(doc.where(p) for p in problems)
        raise PipelineFileError(f"{listed} [{err.status} {err.code}]", problems) from err


def _summary(pipeline: PipelineRead) -> list[object]:
    version = pipeline.current_version
    return [
        pipeline.name,
        pipeline.id,
        version.number if version else "",
        len(version.steps) if version else 0,
        when(pipeline.updated_at),
    ]


@app.command("list")
@command
def list_pipelines(as_json: Json = False) -> None:
    """Every pipeline, with its current version."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = list(client.list_pipelines())
    if as_json:
        emit_json(found)
        return
    columns = ("name", "id", "version", "steps", "updated")
    show_table("pipelines", columns, [_summary(p) for p in found])


@app.command("show")
@command
def show(pipeline: PipelineArg, as_json: Json = False) -> None:
    """A pipeline and the steps of its current version."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = client.find_pipeline(pipeline)
    if as_json:
        emit_json(found)
        return
    version = found.current_version
    typer.echo(f"{found.name} ({found.id}) {found.description}".rstrip())
    typer.echo(f"version {version.number if version else '-'}, updated {when(found.updated_at)}")
    rows = [
        (
            s.name,
            ", ".join(s.config.input_datasets),
            ", ".join(s.config.output_datasets),
        )
        for s in (version.steps if version else [])
    ]
    show_table("steps", ("step", "inputs", "outputs"), rows)


@app.command("create")
@command
def create(file: File, as_json: Json = False) -> None:
    """Create the pipeline of a file, with its steps as version 1."""
    from headrace.cli.remote.config import connect

    doc = _load(file)
    with connect() as client, _located(doc):
        made = client.create_pipeline(
            doc.name, doc.step_bodies, description=doc.description, parameters=doc.parameter_bodies
        )
        automated = _automate(client, made.id, doc)
    if as_json:
        emit_json(made)
        return
    typer.echo(f"created pipeline {made.name} ({made.id}), version 1 with {len(doc.steps)} steps")
    for line in automated:
        typer.echo(line)


@app.command("push")
@command
def push(
    file: File,
    as_json: Json = False,
    allow_breaking: Annotated[
        bool,
        typer.Option(
            "--allow-breaking",
            help="Push a version that removes, renames or retypes a column others read.",
        ),
    ] = False,
) -> None:
    """Create the file's pipeline, or add a version when its steps differ from the current
    one (printing what changed, and what breaks readers: refused without
    --allow-breaking); nothing happens when they are the same."""
    from headrace.cli.remote.config import connect

    doc = _load(file)
    with connect() as client, _located(doc):
        pushed = client.push_pipeline(
            doc.name,
            doc.step_bodies,
            description=doc.description,
            parameters=doc.parameter_bodies,
            allow_breaking=allow_breaking,
        )
        automated = _automate(client, pushed.pipeline.id, doc)
        found = client.get_pipeline(pushed.pipeline.id) if automated else pushed.pipeline
    changes = pushed.changes
    if as_json:
        emit_json(found)
        return
    for line in automated:
        typer.echo(line)
    if pushed.created:
        typer.echo(f"created pipeline {found.name} ({found.id}), version 1")
        return
    number = found.current_version.number if found.current_version else "-"
    if not changes:
        typer.echo(f"{found.name}: steps unchanged, still version {number}")
        return
    for line in changes:
        typer.echo(line)
    for line in pushed.breaking:
        typer.echo(f"breaking: {line}")
    typer.echo(f"{found.name}: new version {number}")


def _automate(client: Client, pipeline_id: uuid.UUID, doc: PipelineFile) -> list[str]:
    """Make the pipeline's schedules, triggers and limits what the file says; what changed."""
    from headrace.cli.automation import (
        SCHEDULE_FIELDS,
        TRIGGER_FIELDS,
        describe,
        limits_changed,
        plan,
    )

    wanted = doc.automation
    lines = []
    current = client.get_pipeline(pipeline_id)
    if limits_changed(current.model_dump(), wanted.limits):
        client.update_pipeline(pipeline_id, limits=wanted.limits)
        lines.append(
            f"limits: max_active_runs {wanted.limits['max_active_runs']}, "
            f"on_limit {wanted.limits['on_limit']}"
        )
    existing = [(str(s.id), s.model_dump(mode="json")) for s in client.list_schedules(pipeline_id)]
    schedules = plan(existing, wanted.schedules, SCHEDULE_FIELDS)
    for schedule_id in schedules.delete:
        client.delete_schedule(pipeline_id, schedule_id)
    for body in schedules.create:
        client.create_schedule(pipeline_id, **body)
    existing = [(str(t.id), t.model_dump(mode="json")) for t in client.list_triggers(pipeline_id)]
    triggers = plan(existing, wanted.triggers, TRIGGER_FIELDS)
    for trigger_id in triggers.delete:
        client.delete_trigger(pipeline_id, trigger_id)
    for body in triggers.create:
        client.create_trigger(
            pipeline_id, body["datasets"], mode=body["mode"], debounce=body["debounce_seconds"]
        )
    return lines + describe("schedules", schedules) + describe("triggers", triggers)


@app.command("validate")
@command
def validate(file: File, as_json: Json = False) -> None:
    """Check a file offline with the server's own validation; list every problem with its
    step and field (exit 1 when there is any)."""
    from headrace.cli.pipeline_file import PipelineFileError, plain
    from headrace.domain.validation import validate_steps

    try:
        doc = _load(file)
        problems = validate_steps(doc.steps, doc.parameters)
        positions = [doc.position(p) for p in problems]
    except PipelineFileError as err:
        if not err.problems:
            raise
        problems, positions = err.problems, err.positions
    if as_json:
        emit_json(
            {
                "valid": not problems,
                "problems": [
                    {
                        "loc": list(p.loc),
                        "msg": p.msg,
                        "type": p.type,
                        "file": str(at.file),
                        "line": at.line,
                        "column": at.column,
                    }
                    for p, at in zip(problems, positions, strict=True)
                ],
            }
        )
    elif not problems:
        typer.echo(f"{file}: valid")
    else:
        typer.echo(f"{file}: {len(problems)} problem(s)")
        for p, at in zip(problems, positions, strict=True):
            typer.echo(f"  {at}: {plain(p)}")
    if problems:
        raise typer.Exit(1)
