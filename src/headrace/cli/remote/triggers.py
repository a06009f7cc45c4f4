"""``headrace triggers list|add|delete``: a pipeline's dataset triggers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from headrace.cli.remote.output import command, emit_json, show_table, when

if TYPE_CHECKING:
    from headrace.client.models import TriggerRead

app = typer.Typer(help="Dataset triggers of a pipeline.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PipelineArg = Annotated[str, typer.Argument(help="Name or id of the pipeline.")]


def _show(found: list[TriggerRead], title: str) -> None:
    rows = [
        (
            t.id,
            ", ".join(t.datasets),
            t.mode,
            f"{t.debounce_seconds:g} s",
            ", ".join(f"{d}@v{v}" for d, v in t.consumed.items() if v is not None),
            when(t.pending_since),
        )
        for t in found
    ]
    columns = ("id", "datasets", "mode", "debounce", "last run for", "window open since")
    show_table(title, columns, rows)


@app.command("list")
@command
def list_triggers(pipeline: PipelineArg, as_json: Json = False) -> None:
    """The pipeline's dataset triggers."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = client.find_pipeline(pipeline)
        triggers = client.list_triggers(found.id)
    if as_json:
        emit_json(triggers)
    else:
        _show(triggers, f"triggers of {found.name}")


@app.command("add")
@command
def add(
    pipeline: PipelineArg,
    datasets: Annotated[list[str], typer.Argument(help="Datasets whose new versions start it.")],
    mode: Annotated[str, typer.Option(help="any: one new version; all: each has one.")] = "any",
    debounce: Annotated[
        float, typer.Option(help="Seconds to wait after the first new version.")
    ] = 10.0,
    as_json: Json = False,
) -> None:
    """A new trigger: new versions of the datasets start one run per debounce window."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = client.find_pipeline(pipeline)
        made = client.create_trigger(found.id, datasets, mode=mode, debounce=debounce)
    if as_json:
        emit_json(made)
    else:
        _show([made], f"new trigger of {found.name}")


@app.command("delete")
@command
def delete(
    pipeline: PipelineArg,
    trigger_id: Annotated[str, typer.Argument(help="Id of the trigger.")],
) -> None:
    """Remove a trigger."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        client.delete_trigger(client.find_pipeline(pipeline).id, trigger_id)
    typer.echo(f"deleted trigger {trigger_id}")
