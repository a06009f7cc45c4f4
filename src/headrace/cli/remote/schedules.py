"""``headrace schedules list|add|set|delete``: a pipeline's cron schedules."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from headrace.cli.remote.output import CliError, command, emit_json, show_table

if TYPE_CHECKING:
    from headrace.client.models import ScheduleRead

app = typer.Typer(help="Cron schedules of a pipeline.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PipelineArg = Annotated[str, typer.Argument(help="Name or id of the pipeline.")]
ScheduleArg = Annotated[str, typer.Argument(help="Id of the schedule.")]
Params = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A run parameter as NAME=VALUE (repeatable)."),
]


def _show(found: list[ScheduleRead], title: str) -> None:
    rows = [
        (
            s.id,
            s.cron,
            s.timezone,
            "yes" if s.enabled else "no",
            s.catchup,
            json.dumps(s.parameters) if s.parameters else "",
            s.next_fire_times[0].isoformat() if s.next_fire_times else "-",
        )
        for s in found
    ]
    columns = ("id", "cron", "zone", "enabled", "catchup", "parameters", "next fire")
    show_table(title, columns, rows)


def _parameters(client: Any, pipeline_id: Any, given: list[str]) -> dict[str, Any]:
    from headrace.cli.remote.runs import parse_params

    version = client.get_pipeline(pipeline_id).current_version
    declared = version.parameters if version else []
    return parse_params(given, {p["name"]: p["type"] for p in declared})


@app.command("list")
@command
def list_schedules(pipeline: PipelineArg, as_json: Json = False) -> None:
    """The pipeline's schedules with their next fire time."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = client.find_pipeline(pipeline)
        schedules = client.list_schedules(found.id)
    if as_json:
        emit_json(schedules)
    else:
        _show(schedules, f"schedules of {found.name}")


@app.command("add")
@command
def add(
    pipeline: PipelineArg,
    cron: Annotated[str, typer.Argument(help='5 fields, e.g. "30 2 * * *".')],
    timezone: Annotated[str, typer.Option("--timezone", "--tz", help="IANA zone.")] = "UTC",
    catchup: Annotated[str, typer.Option(help="After downtime: none, latest or all.")] = "latest",
    param: Params = None,
    first: Annotated[str | None, typer.Option("--start", help="First step to run.")] = None,
    last: Annotated[str | None, typer.Option("--end", help="Last step to run.")] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Add it switched off.")] = False,
    as_json: Json = False,
) -> None:
    """A new schedule: each tick starts one run of the pipeline's current version."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = client.find_pipeline(pipeline)
        made = client.create_schedule(
            found.id,
            cron=cron,
            timezone=timezone,
            catchup=catchup,
            parameters=_parameters(client, found.id, param or []),
            start_job_name=first,
            end_job_name=last,
            enabled=not disabled,
        )
    if as_json:
        emit_json(made)
    else:
        _show([made], f"new schedule of {found.name}")


@app.command("set")
@command
def set_schedule(
    pipeline: PipelineArg,
    schedule_id: ScheduleArg,
    cron: Annotated[str | None, typer.Option(help="A new cron expression.")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", "--tz", help="IANA zone.")] = None,
    catchup: Annotated[str | None, typer.Option(help="none, latest or all.")] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Switch it on or off.")
    ] = None,
    param: Params = None,
    as_json: Json = False,
) -> None:
    """Change a schedule (only the options given)."""
    from headrace.cli.remote.config import connect

    changes: dict[str, Any] = {
        k: v
        for k, v in (
            ("cron", cron),
            ("timezone", timezone),
            ("catchup", catchup),
            ("enabled", enabled),
        )
        if v is not None
    }
    with connect() as client:
        found = client.find_pipeline(pipeline)
        if param:
            changes["parameters"] = _parameters(client, found.id, param)
        if not changes:
            raise CliError(
                "nothing to change: give --cron, --tz, --catchup, --enable, --disable or --param"
            )
        changed = client.update_schedule(found.id, schedule_id, **changes)
    if as_json:
        emit_json(changed)
    else:
        _show([changed], f"schedule of {found.name}")


@app.command("delete")
@command
def delete(pipeline: PipelineArg, schedule_id: ScheduleArg) -> None:
    """Remove a schedule (its runs stay)."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        client.delete_schedule(client.find_pipeline(pipeline).id, schedule_id)
    typer.echo(f"deleted schedule {schedule_id}")
