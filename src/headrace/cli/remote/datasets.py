"""``headrace datasets upload|list|show|head|download``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from headrace.cli.remote.output import CliError, command, emit_json, show_table, when

app = typer.Typer(help="Datasets of your organisation.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DatasetArg = Annotated[str, typer.Argument(help="Name or id of the dataset.")]
Version = Annotated[
    int | None, typer.Option("--version", help="This version instead of the current one.")
]


@app.command("upload")
@command
def upload(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON-lines file.")],
    name: Annotated[str, typer.Option("--name", help="Dataset to create or add a version to.")],
    as_json: Json = False,
) -> None:
    """Upload a file as a new dataset, or as a new version of an existing one."""
    from headrace.cli.remote.config import connect
    from headrace.cli.remote.transfer import transfer_bar

    if not file.is_file():
        raise CliError(f"no such file: {file}")
    with connect() as client, transfer_bar(f"uploading {file.name}") as progress:
        made = client.upload_dataset(file, name, progress=progress)
    if as_json:
        emit_json(made)
    else:
        typer.echo(f"{made.name}: version {made.current_version}, {made.row_count} rows")


@app.command("list")
@command
def list_datasets(as_json: Json = False) -> None:
    """Every dataset, with its current version."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = list(client.list_datasets())
    if as_json:
        emit_json(found)
        return
    rows = [
        (d.name, d.id, d.current_version, d.row_count, len(d.schema_), when(d.updated_at))
        for d in found
    ]
    show_table("datasets", ("name", "id", "version", "rows", "columns", "updated"), rows)


@app.command("show")
@command
def show(dataset: DatasetArg, as_json: Json = False) -> None:
    """A dataset's schema and versions (which run and step wrote each)."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = client.get_dataset(client.find_dataset(dataset).id)
    if as_json:
        emit_json(found)
        return
    typer.echo(
        f"{found.name} ({found.id}): version {found.current_version}, {found.row_count} rows"
    )
    show_table("schema", ("column", "type"), [(c.name, c.type) for c in found.schema_])
    rows = [
        (v.version, v.row_count, v.operation, v.run_id, v.step_name, when(v.created_at))
        for v in found.versions
    ]
    show_table("versions", ("version", "rows", "operation", "run", "step", "created"), rows)


@app.command("head")
@command
def head(
    dataset: DatasetArg,
    rows: Annotated[int, typer.Option("--rows", "-n", help="How many rows.")] = 10,
    version: Version = None,
    as_json: Json = False,
) -> None:
    """The first rows of a dataset."""
    from headrace.cli.remote.config import connect

    with connect() as client:
        found = client.find_dataset(dataset)
        data = client.dataset_rows(found.id, version=version, limit=rows)
    if as_json:
        emit_json(data)
        return
    columns = list(data[0]) if data else [c.name for c in found.schema_]
    show_table(found.name, columns, [[row.get(c) for c in columns] for row in data])


@app.command("download")
@command
def download(
    dataset: DatasetArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (NAME.FORMAT by default).")
    ] = None,
    file_format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    version: Version = None,
) -> None:
    """Save a dataset (or one version of it) as Parquet or CSV."""
    from headrace.cli.remote.config import connect
    from headrace.cli.remote.transfer import transfer_bar

    if file_format not in ("parquet", "csv"):
        raise CliError(f"--format must be parquet or csv, not {file_format!r}")
    kind: Literal["parquet", "csv"] = "csv" if file_format == "csv" else "parquet"
    with connect() as client:
        found = client.find_dataset(dataset)
        target = output or Path(f"{found.name}.{kind}")
        with transfer_bar(f"downloading {target.name}") as progress:
            client.download_dataset(
                found.id, target, version=version, format=kind, progress=progress
            )
    typer.echo(f"wrote {target} ({target.stat().st_size} bytes)")
