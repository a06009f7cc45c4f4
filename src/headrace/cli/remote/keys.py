"""``headrace keys create|list|revoke`` (an admin key is needed)."""

from __future__ import annotations

from typing import Annotated

import typer

from headrace.cli.remote.output import CliError, command, emit_json, show_table, when

app = typer.Typer(help="API keys of your organisation (admin).", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ROLES = ("viewer", "builder", "admin")


@app.command("create")
@command
def create(
    name: Annotated[str, typer.Argument(help="What the key is for.")],
    role: Annotated[str, typer.Option(help="viewer, builder or admin.")] = "viewer",
    as_json: Json = False,
) -> None:
    """A new key; its secret is printed only now."""
    from headrace.cli.remote.config import connect

    if role not in ROLES:
        raise CliError(f"--role must be one of {', '.join(ROLES)}, not {role!r}")
    with connect() as client:
        made = client.create_key(name, role)
    if as_json:
        emit_json(made)
        return
    typer.echo(f"key {made.name} ({made.id}), role {made.role}")
    typer.echo(f"secret (shown only now): {made.api_key}")


@app.command("list")
@command
def list_keys(as_json: Json = False) -> None:
    """The organisation's active keys (never their secrets)."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = list(client.list_keys())
    if as_json:
        emit_json(found)
        return
    rows = [(k.name, k.id, k.key_prefix, k.role, when(k.created_at)) for k in found]
    show_table("API keys", ("name", "id", "prefix", "role", "created"), rows)


@app.command("revoke")
@command
def revoke(key_id: Annotated[str, typer.Argument(help="Id of the key.")]) -> None:
    """Revoke a key: it stops working at once."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        client.revoke_key(key_id)
    typer.echo(f"revoked key {key_id}")
