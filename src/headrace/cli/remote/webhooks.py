"""``headrace webhooks create|list|delete|deliveries`` (an admin key is needed)."""

from __future__ import annotations

from typing import Annotated

import typer

from headrace.cli.remote.output import CliError, command, emit_json, show_table, when
from headrace.domain.events import EventType

app = typer.Typer(
    help="Webhooks of your organisation and their deliveries (admin).", no_args_is_help=True
)

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
EVENTS = [e.value for e in EventType]


@app.command("create")
@command
def create(
    url: Annotated[str, typer.Argument(help="http(s) URL the events are POSTed to.")],
    event: Annotated[
        list[str] | None,
        typer.Option("--event", "-e", help=f"An event to send (repeat): {', '.join(EVENTS)}."),
    ] = None,
    description: Annotated[str, typer.Option(help="What the webhook is for.")] = "",
    as_json: Json = False,
) -> None:
    """A new webhook; its signing secret is printed only now."""
    from headrace.cli.remote.config import connect

    events = event or []
    unknown = [e for e in events if e not in EVENTS]
    if unknown or not events:
        raise CliError(f"--event must be given, each one of {', '.join(EVENTS)}")
    with connect() as client:
        made = client.create_webhook(url, events, description)
    if as_json:
        emit_json(made)
        return
    typer.echo(f"webhook {made.id} for {', '.join(made.events)} → {made.url}")
    typer.echo(f"signing secret (shown only now): {made.secret}")


@app.command("list")
@command
def list_webhooks(as_json: Json = False) -> None:
    """The organisation's webhooks (never their secrets)."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = list(client.list_webhooks())
    if as_json:
        emit_json(found)
        return
    rows = [(h.id, h.url, ", ".join(h.events), h.description, when(h.created_at)) for h in found]
    show_table("webhooks", ("id", "url", "events", "description", "created"), rows)


@app.command("delete")
@command
def delete(webhook_id: Annotated[str, typer.Argument(help="Id of the webhook.")]) -> None:
    """Delete a webhook: nothing more is sent to it."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        client.delete_webhook(webhook_id)
    typer.echo(f"deleted webhook {webhook_id}")


@app.command("deliveries")
@command
def deliveries(
    webhook_id: Annotated[str, typer.Argument(help="Id of the webhook.")],
    as_json: Json = False,
) -> None:
    """The webhook's deliveries, newest first: attempts, last answer, what comes next."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = list(client.list_deliveries(webhook_id))
    if as_json:
        emit_json(found)
        return
    rows = [
        (
            d.id,
            d.event,
            d.attempts,
            "" if d.status_code is None else d.status_code,
            _state(d.delivered_at is not None, d.next_attempt_at is not None),
            when(d.delivered_at or d.next_attempt_at or d.created_at),
            d.error or "",
        )
        for d in found
    ]
    columns = ("id", "event", "attempts", "status", "state", "at", "error")
    show_table("deliveries", columns, rows)


def _state(delivered: bool, due: bool) -> str:
    if delivered:
        return "delivered"
    return "retrying" if due else "given up"
