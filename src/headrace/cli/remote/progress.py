"""A run followed live through its event stream: a table redrawn in a terminal, one line per
change elsewhere (CI logs, pipes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from headrace.client import Client
    from headrace.client.models import RunRead

STYLE = {
    "Succeeded": "green",
    "Failed": "red",
    "Error": "red",
    "Cancelled": "yellow",
    "Running": "cyan",
}


def step_table(run: dict[str, Any]) -> Table:
    from rich.table import Table

    table = Table(title=f"{run['name']}: {run['status']}")
    for column in ("step", "status", "rows", "error"):
        table.add_column(column, overflow="fold")
    for step in run["run_steps"]:
        style = STYLE.get(step["status"], "dim")
        rows = step.get("rows_written")
        table.add_row(
            step["name"],
            f"[{style}]{step['status']}[/]",
            "" if rows is None else str(rows),
            step.get("error") or "",
        )
    return table


def _line(name: str, step: dict[str, Any]) -> str:
    rows = step.get("rows_written")
    text = f"{name}: {step['status']}"
    if rows is not None and step["status"] == "Succeeded":
        text += f" ({rows} rows)"
    if step.get("error"):
        text += f": {step['error']}"
    return text


def follow(client: Client, run: RunRead) -> RunRead:
    """Show the run's progress until it ends; the run as it ended."""
    from rich.console import Console
    from rich.live import Live

    from headrace.client.sse import apply

    console = Console()
    state: dict[str, Any] = run.model_dump(mode="json")
    events = client.events(run.pipeline_id, run.id)
    if console.is_terminal:
        with Live(step_table(state), console=console, refresh_per_second=8) as live:
            for event in events:
                state = apply(state, event.data)
                live.update(step_table(state))
    else:
        for event in events:
            if event.event == "end":
                break
            before = state
            state = apply(state, event.data)
            if event.event == "step":
                for step in event.data["run_steps"]:
                    typer.echo(_line(step["name"], step))
            elif before["status"] != state["status"]:
                typer.echo(f"run {state['name']}: {state['status']}")
    final = client.get_run(run.pipeline_id, run.id)
    console.print(step_table(final.model_dump(mode="json")))
    return final
