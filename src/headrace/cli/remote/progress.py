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
            f"[{style}]{_status(step)}[/]",
            "" if rows is None else str(rows),
            step.get("error") or "",
        )
    return table


def _status(step: dict[str, Any]) -> str:
    """A step Skipped because an earlier result was reused says so."""
    return f"{step['status']} (reused)" if step.get("reused_from") else str(step["status"])


def _line(name: str, step: dict[str, Any]) -> str:
    rows = step.get("rows_written")
    text = f"{name}: {_status(step)}"
    if rows is not None and step["status"] == "Succeeded":
        text += f" ({rows} rows)"
    if step.get("error"):
        text += f": {step['error']}"
    return text


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """A line for each step whose status moved between two states of a run, then one for the
    run's own: a stream that starts after steps have ended (its first event is the whole run)
    still shows each of them."""
    was = {step["name"]: step["status"] for step in before["run_steps"]}
    lines = [_line(s["name"], s) for s in after["run_steps"] if was.get(s["name"]) != s["status"]]
    if before["status"] != after["status"]:
        lines.append(f"run {after['name']}: {after['status']}")
    return lines


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
            for line in _changes(before, state):
                typer.echo(line)
    final = client.get_run(run.pipeline_id, run.id)
    console.print(step_table(final.model_dump(mode="json")))
    return final
